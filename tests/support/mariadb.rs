//! A private MariaDB for the backend tests: `mariadb-install-db` into a temp data dir,
//! `mariadbd` on a free loopback port as root, one server per test binary. A watchdog
//! shell stops it and removes the data dir when the test process exits. Without a
//! MariaDB binary, [`server`] returns `None` after printing why (the tests then skip).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

/// The password of the `tarsform` user every test database grants to.
pub const PASSWORD: &str = "tf-test-pw";

pub struct MariaDb {
    pub port: u16,
    pub data_dir: PathBuf,
    pub server_pid: u32,
    server: PathBuf,
}

static SERVER: OnceLock<Result<MariaDb, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The shared server, or `None` (with the reason printed) when none can be started.
pub fn server() -> Option<&'static MariaDb> {
    match SERVER.get_or_init(start) {
        Ok(db) => Some(db),
        Err(reason) if std::env::var_os("TARSFORM_REQUIRE_MARIADB").is_some() => {
            panic!("TARSFORM_REQUIRE_MARIADB is set and no MariaDB could be started: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: no MariaDB for the mysql backend tests: {reason}");
            None
        }
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// `df` of `dir`, for errors (a full disk is the usual reason a server will not start).
fn free_space(dir: &Path) -> String {
    Command::new("df")
        .args(["-h", "--output=avail,target"])
        .arg(dir)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .skip(2)
                .collect::<Vec<_>>()
                .join(" free on ")
        })
        .unwrap_or_default()
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start() -> Result<MariaDb, String> {
    let server = find(&["mariadbd", "mysqld"])
        .ok_or("neither mariadbd nor mysqld is installed (apt-get install mariadb-server)")?;
    let install =
        find(&["mariadb-install-db", "mysql_install_db"]).ok_or("mariadb-install-db is not installed")?;
    let data_dir = std::env::temp_dir().join(format!(
        "tarsform-mariadb-{}-{}",
        std::process::id(),
        free_port()?
    ));
    std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
    let log = data_dir.with_extension("install.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = Command::new(&install)
        .args([
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .arg(format!("--datadir={}", data_dir.display()))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("running {}: {e}", install.display()))?;
    // A server that cannot write (a full disk) waits for space forever: bound it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.is_none_or(|s| !s.success()) {
        return Err(format!(
            "{} {} ({}): {output}",
            install.display(),
            if status.is_none() {
                "did not finish in 120 s"
            } else {
                "failed"
            },
            free_space(&data_dir),
        ));
    }
    let port = free_port()?;
    let server_pid = spawn(&server, &data_dir, port)?;
    let db = MariaDb {
        port,
        data_dir,
        server_pid,
        server,
    };
    db.wait_ready(Duration::from_secs(60))?;
    let mut root = db.root()?;
    root.query_drop(format!(
        "CREATE USER IF NOT EXISTS 'tarsform'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'"
    ))
    .map_err(|e| e.to_string())?;
    Ok(db)
}

/// Starts `mariadbd` under a watchdog shell that stops it when this process exits.
fn spawn(server: &Path, data_dir: &Path, port: u16) -> Result<u32, String> {
    let script = r#"
        "$SERVER" --no-defaults --user=root --datadir="$DATA" --port="$PORT" --bind-address=127.0.0.1 \
          --socket="$DATA/mysqld.sock" --pid-file="$DATA/mysqld.pid" --skip-name-resolve --skip-log-bin \
          --innodb-buffer-pool-size=32M --max-connections=200 --log-error="$DATA/error.log" &
        db=$!
        echo "$db" > "$DATA/server.pid"
        while kill -0 "$OWNER" 2>/dev/null && kill -0 "$db" 2>/dev/null; do sleep 0.5; done
        kill "$db" 2>/dev/null; wait "$db" 2>/dev/null
        if ! kill -0 "$OWNER" 2>/dev/null; then
          case "$DATA" in */tarsform-mariadb-*) rm -rf "$DATA" ;; esac
        fi
    "#;
    let pid_file = data_dir.join("server.pid");
    let _ = std::fs::remove_file(&pid_file);
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("SERVER", server)
        .env("DATA", data_dir)
        .env("PORT", port.to_string())
        .env("OWNER", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            return Ok(pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the server's watchdog did not start".into())
}

impl MariaDb {
    fn root_opts(&self) -> mysql::Opts {
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .read_timeout(Some(Duration::from_secs(60)))
            .write_timeout(Some(Duration::from_secs(60)))
            .into()
    }

    pub fn root(&self) -> Result<mysql::Conn, String> {
        mysql::Conn::new(self.root_opts()).map_err(|e| e.to_string())
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.root() {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    let log = std::fs::read_to_string(self.data_dir.join("error.log")).unwrap_or_default();
                    return Err(format!(
                        "the server did not accept connections ({}): {e}\n{log}",
                        free_space(&self.data_dir)
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// A fresh database granted to the `tarsform` user; returns its URL (no password).
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "tf{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut root = self.root().expect("connect as root");
        root.query_drop(format!("CREATE DATABASE {name}")).unwrap();
        root.query_drop(format!("GRANT ALL ON {name}.* TO 'tarsform'@'127.0.0.1'"))
            .unwrap();
        format!("mysql://tarsform@127.0.0.1:{}/{name}", self.port)
    }

    /// Kills the server (as a crash would) and starts it again on the same port and data.
    pub fn restart(&self) {
        let _ = Command::new("kill")
            .arg("-9")
            .arg(self.current_pid().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(300));
        spawn(&self.server, &self.data_dir, self.port).expect("restart the server");
        self.wait_ready(Duration::from_secs(60))
            .expect("the restarted server is ready");
    }

    fn current_pid(&self) -> u32 {
        std::fs::read_to_string(self.data_dir.join("server.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(self.server_pid)
    }
}
