//! What an endpoint answers: success data (already serialized, so key order is the
//! struct's order) or one of TarsWeb's error kinds (tarsweb-api.md §2.4).

use serde::Serialize;

use super::i18n;

/// Serialized `data` of a success envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data(pub String);

impl Data {
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Data {
        Data(serde_json::to_string(value).expect("emulator shapes always serialize"))
    }

    /// `{}`: TarsWeb's data for `undefined`/`null` results and "not found" successes.
    pub fn empty() -> Data {
        Data("{}".to_string())
    }
}

/// An error kind. Kind B (no login) is answered before routing and is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// Kind A: a `checkRule` failed; the message is `<param>#common.notEmpty#` or similar.
    Validation(String),
    /// Kind C.
    NoPrivilege,
    /// Kind D: an exception caught by the controller.
    System,
    /// Kind E: a controller-specific message token.
    Business(String),
    /// Kind F: an exception outside the controller's try (HTTP 500, not JSON).
    Crash(String),
}

pub type Reply = Result<Data, Fail>;

/// A finished response before translation: HTTP status, content type, body.
pub struct Rendered {
    pub status: u16,
    pub json: bool,
    pub body: String,
}

/// Builds the envelope `{data, ret_code, err_msg}` (or kind F's HTML page).
pub fn render(reply: Reply) -> Rendered {
    let (data, ret_code, message) = match reply {
        Ok(data) => (data.0, 200, String::new()),
        Err(Fail::Crash(reason)) => {
            return Rendered {
                status: 500,
                json: false,
                body: format!(
                    "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Internal Server Error</h1><p>{reason}</p></body></html>"
                ),
            };
        }
        Err(Fail::Validation(msg) | Fail::Business(msg)) => ("{}".to_string(), 500, msg),
        Err(Fail::NoPrivilege) => ("{}".to_string(), 500, i18n::NO_PRIVILEGE.to_string()),
        Err(Fail::System) => ("{}".to_string(), 500, i18n::SYSTEM_ERROR.to_string()),
    };
    let message = serde_json::to_string(&message).expect("strings serialize");
    Rendered {
        status: 200,
        json: true,
        body: format!(r#"{{"data":{data},"ret_code":{ret_code},"err_msg":{message}}}"#),
    }
}

/// Kind B, in TarsWeb's key order `ret_code, err_msg, data`.
pub fn no_login() -> Rendered {
    Rendered {
        status: 200,
        json: true,
        body: format!(r#"{{"ret_code":500,"err_msg":"{}","data":{{}}}}"#, i18n::NO_LOGIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_key_order_is_data_ret_code_err_msg() {
        let ok = render(Ok(Data::of(&[1, 2])));
        assert_eq!(ok.body, r#"{"data":[1,2],"ret_code":200,"err_msg":""}"#);
        let err = render(Err(Fail::System));
        assert_eq!(
            err.body,
            r##"{"data":{},"ret_code":500,"err_msg":"#common.systemError#"}"##
        );
        assert_eq!(render(Err(Fail::Crash("x".into()))).status, 500);
    }
}
