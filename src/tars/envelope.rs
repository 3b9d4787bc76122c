//! TarsWeb's response envelope `{data, ret_code, err_msg}` and what its message means.
//!
//! A call succeeds only when the body is JSON, `ret_code` is 200 and `err_msg` is
//! empty. Messages are matched in their token (`#common.noLogin#`), Chinese and
//! English forms, because the language depends on the TarsWeb version and route.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub ret_code: i64,
    pub err_msg: String,
    pub data: Value,
}

/// What an envelope says about the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    /// Not logged in: a bad or unknown ticket.
    Unauthorized,
    /// Logged in, without the role.
    Forbidden,
    /// `#cfg.dlg.exists#`: a file with this name already exists.
    Exists,
    Failed,
}

/// Reads the envelope from a body; `Err` says why it is not one.
pub(crate) fn parse(text: &str) -> Result<Envelope, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("the body is not JSON ({e})"))?;
    let Value::Object(mut map) = value else {
        return Err("the body is JSON but not an object".to_string());
    };
    let err_msg = match map.get("err_msg") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
        None => return Err("the body has no `err_msg`".to_string()),
    };
    let ret_code = match map.get("ret_code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| "the body has no numeric `ret_code`".to_string())?;
    let data = map.remove("data").unwrap_or(Value::Null);
    Ok(Envelope {
        ret_code,
        err_msg,
        data,
    })
}

pub(crate) fn verdict(envelope: &Envelope) -> Verdict {
    if envelope.ret_code == 200 && envelope.err_msg.is_empty() {
        return Verdict::Success;
    }
    let msg = envelope.err_msg.as_str();
    let has = |needles: &[&str]| needles.iter().any(|n| msg.contains(n));
    if has(&[
        "common.noLogin",
        "您还没有登录",
        "have not been login",
        "not logged in",
    ]) {
        Verdict::Unauthorized
    } else if has(&["common.noPrivilage", "没有权限", "no privilage", "no privilege"]) {
        Verdict::Forbidden
    } else if has(&["cfg.dlg.exists", "同名文件已经存在", "same name already exists"]) {
        Verdict::Exists
    } else {
        Verdict::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict_of(text: &str) -> Verdict {
        verdict(&parse(text).unwrap())
    }

    #[test]
    fn success_needs_code_200_and_empty_message() {
        assert_eq!(
            verdict_of(r#"{"data":[],"ret_code":200,"err_msg":""}"#),
            Verdict::Success
        );
        assert_eq!(
            verdict_of(r#"{"data":[],"ret_code":"200","err_msg":""}"#),
            Verdict::Success
        );
        assert_eq!(
            verdict_of(r#"{"data":{},"ret_code":200,"err_msg":"odd"}"#),
            Verdict::Failed
        );
        assert_eq!(
            verdict_of(r#"{"data":{},"ret_code":500,"err_msg":""}"#),
            Verdict::Failed
        );
    }

    #[test]
    fn messages_are_classified_in_every_language() {
        let b = r#"{"ret_code":500,"err_msg":"您还没有登录","data":{}}"#;
        assert_eq!(verdict_of(b), Verdict::Unauthorized);
        let c = r#"{"data":{},"ret_code":500,"err_msg":"no privilage"}"#;
        assert_eq!(verdict_of(c), Verdict::Forbidden);
        for msg in [
            "#cfg.dlg.exists#",
            "同名文件已经存在",
            "File with the same name already exists!",
        ] {
            let text = format!(r#"{{"data":{{}},"ret_code":500,"err_msg":"{msg}"}}"#);
            assert_eq!(verdict_of(&text), Verdict::Exists, "{msg}");
        }
        let d = r#"{"data":{},"ret_code":500,"err_msg":"系统内部错误"}"#;
        assert_eq!(verdict_of(d), Verdict::Failed);
    }

    #[test]
    fn malformed_bodies_are_rejected_with_a_reason() {
        assert!(parse("<html>500</html>").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"data":[1,2"#).unwrap_err().contains("not JSON"));
        assert!(
            parse(r#"{"data":[],"ret_code":200}"#)
                .unwrap_err()
                .contains("err_msg")
        );
        assert!(
            parse(r#"{"data":[],"err_msg":""}"#)
                .unwrap_err()
                .contains("ret_code")
        );
        assert!(parse("[1]").unwrap_err().contains("not an object"));
    }
}
