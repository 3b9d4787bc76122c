//! Message tokens (`#a.b.c#`) and their Chinese / English texts, as TarsWeb's
//! locale files define them, plus the choice of locale for a request.

/// The language of the messages in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Cn,
    En,
}

pub const NOT_EMPTY: &str = "#common.notEmpty#";
pub const NEED_NUMBER: &str = "#common.needNumber#";
pub const NO_LOGIN: &str = "#common.noLogin#";
pub const NO_PRIVILEGE: &str = "#common.noPrivilage#";
pub const SYSTEM_ERROR: &str = "#common.systemError#";
pub const CONFIG_EXISTS: &str = "#cfg.dlg.exists#";
pub const TASK_PARAMS: &str = "#task.params#";
pub const EXPAND_EXISTENT: &str = "#api.expand.node.status.existent#";
pub const EXPAND_NONEXISTENT: &str = "#api.expand.node.status.nonexistent#";

/// (token, cn, en)
const TEXTS: &[(&str, &str, &str)] = &[
    (NOT_EMPTY, "不能为空", " is required"),
    (NEED_NUMBER, "必须为数字", " must be numeric type"),
    (NO_LOGIN, "您还没有登录", "You have not been login"),
    (NO_PRIVILEGE, "没有权限", "no privilage"),
    (SYSTEM_ERROR, "系统内部错误", "system error"),
    (
        CONFIG_EXISTS,
        "同名文件已经存在",
        "File with the same name already exists!",
    ),
    (TASK_PARAMS, "参数错误", "parameters error"),
    (EXPAND_EXISTENT, "已存在", "existent"),
    (EXPAND_NONEXISTENT, "未扩容", "no expand"),
];

impl Locale {
    /// `en` selects English; anything else (or nothing) Chinese, TarsWeb's default.
    pub fn from_name(name: Option<&str>) -> Locale {
        match name {
            Some("en") => Locale::En,
            _ => Locale::Cn,
        }
    }
}

/// Replaces every known token in a serialized body; unknown tokens stay literal.
pub fn translate(body: &str, locale: Locale) -> String {
    if !body.contains('#') {
        return body.to_string();
    }
    let mut out = body.to_string();
    for (token, cn, en) in TEXTS {
        if out.contains(token) {
            let text = match locale {
                Locale::Cn => cn,
                Locale::En => en,
            };
            out = out.replace(token, text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_known_tokens_and_keeps_unknown_ones() {
        let body = r#"{"err_msg":"level#common.notEmpty# #common.notempty#"}"#;
        assert_eq!(
            translate(body, Locale::Cn),
            r#"{"err_msg":"level不能为空 #common.notempty#"}"#
        );
        assert_eq!(
            translate(body, Locale::En),
            r#"{"err_msg":"level is required #common.notempty#"}"#
        );
    }
}
