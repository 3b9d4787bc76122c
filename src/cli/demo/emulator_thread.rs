//! The demo's Tars: the emulator served on its own thread with its own tokio runtime,
//! so the commands the demo runs can build their own runtimes (nesting them panics).

use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::oneshot;

use crate::emulator::{self, EmulatorConfig, EmulatorHandle};

/// A running emulator; dropping it stops the server and joins its thread.
pub struct EmulatorThread {
    base_url: String,
    handle: EmulatorHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmulatorThread {
    /// Starts the emulator and waits until it listens.
    pub fn start(config: EmulatorConfig) -> anyhow::Result<EmulatorThread> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tars-emulator".into())
            .spawn(move || serve(config, ready_tx, stopped))
            .context("starting the emulator thread")?;
        let started = ready_rx
            .recv()
            .context("the emulator thread stopped before it was ready")?;
        let (base_url, handle) = match started {
            Ok(ready) => ready,
            Err(error) => {
                let _ = thread.join();
                return Err(error);
            }
        };
        Ok(EmulatorThread {
            base_url,
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn handle(&self) -> &EmulatorHandle {
        &self.handle
    }
}

type Ready = anyhow::Result<(String, EmulatorHandle)>;

/// Runs on the emulator thread: serve until told to stop (or the demo goes away).
fn serve(config: EmulatorConfig, ready: mpsc::Sender<Ready>, stopped: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(
                anyhow::Error::new(e).context("starting the emulator's runtime")
            ));
            return;
        }
    };
    runtime.block_on(async move {
        match emulator::start(config).await {
            Ok(running) => {
                let _ = ready.send(Ok((running.base_url(), running.handle())));
                let _ = stopped.await;
                running.shutdown().await;
            }
            Err(e) => {
                let _ = ready.send(Err(anyhow::Error::new(e)));
            }
        }
    });
}

impl Drop for EmulatorThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
