//! The printable page of a report: one self-contained HTML document (no external fonts,
//! scripts or images), a font stack that falls back to the system's CJK fonts, and print CSS
//! that keeps each finding on one page.

use super::{FindingView, ReportView};
use crate::http::problem::ApiError;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

/// `lang` when given, else the first of `Accept-Language` that is Chinese or English; Chinese
/// when neither says.
pub fn language(lang: Option<&str>, headers: &HeaderMap) -> Result<Language, ApiError> {
    match lang {
        Some("zh") => return Ok(Language::Zh),
        Some("en") => return Ok(Language::En),
        Some(_) => return Err(ApiError::invalid("invalid_field", "lang", "lang is zh or en")),
        None => {}
    }
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for tag in accepted.split(',').map(|t| t.trim().to_ascii_lowercase()) {
        if tag.starts_with("zh") {
            return Ok(Language::Zh);
        }
        if tag.starts_with("en") {
            return Ok(Language::En);
        }
    }
    Ok(Language::Zh)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
  "WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif; margin: 2rem auto; max-width: 52rem;
  color: #1a1a1a; line-height: 1.55; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
.meta { color: #555; margin-bottom: 1.5rem; }
.finding { border: 1px solid #ccc; border-left-width: 6px; padding: .75rem 1rem; margin: 1rem 0; }
.critical { border-left-color: #c0392b; } .warning { border-left-color: #e67e22; } .info { border-left-color: #2980b9; }
.severity { font-weight: bold; text-transform: uppercase; font-size: .8rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #ddd; padding: .2rem .6rem; }
.action { background: #f6f6f6; padding: .4rem .6rem; }
@media print { body { margin: 0; max-width: none; } .finding { break-inside: avoid; } a { color: inherit; } }
"#;

struct Words {
    title: &'static str,
    period: &'static str,
    baseline: &'static str,
    category: &'static str,
    peers: &'static str,
    none: &'static str,
    action: &'static str,
    figure: &'static str,
    value: &'static str,
}

const ZH: Words = Words {
    title: "经营诊断报告",
    period: "诊断周期",
    baseline: "对比周期",
    category: "类目",
    peers: "同类目对比店铺数",
    none: "本期没有发现需要处理的问题。",
    action: "建议",
    figure: "指标",
    value: "数值",
};

const EN: Words = Words {
    title: "Diagnosis report",
    period: "Period",
    baseline: "Compared with",
    category: "Category",
    peers: "Category peers compared",
    none: "Nothing in this period needs attention.",
    action: "Suggested action",
    figure: "Figure",
    value: "Value",
};

/// A figure as people read it: fen as yuan, basis points and percents with a sign.
fn shown(value: i64, unit: &str) -> String {
    let decimals = |v: i64| format!("{}{}.{:02}", if v < 0 { "-" } else { "" }, v.abs() / 100, v.abs() % 100);
    match unit {
        "fen" => format!("¥{}", decimals(value)),
        "bps" => format!("{}%", decimals(value)),
        "percent" => format!("{value}%"),
        _ => value.to_string(),
    }
}

fn finding(out: &mut String, f: &FindingView, language: Language, words: &Words) {
    let (message, action) = match language {
        Language::Zh => (&f.message.zh, &f.action.zh),
        Language::En => (&f.message.en, &f.action.en),
    };
    let subject = f
        .subject
        .as_deref()
        .map(|s| format!(" · {}", escape(s)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<section class=\"finding {sev}\"><div class=\"severity\">{sev} · <code>{rule}</code>{subject}</div><p>{}</p>\
         <table><tr><th>{}</th><th>{}</th></tr>",
        escape(message),
        words.figure,
        words.value,
        sev = escape(&f.severity),
        rule = escape(&f.rule),
    );
    for g in &f.figures {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&g.name),
            escape(&shown(g.value, &g.unit))
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"action\"><strong>{}:</strong> {}</p></section>",
        words.action,
        escape(action)
    );
}

/// The page, as a response.
pub fn render(report: &ReportView, language: Language) -> Response {
    let (words, lang) = match language {
        Language::Zh => (&ZH, "zh-CN"),
        Language::En => (&EN, "en"),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{} · {}</title><style>{STYLE}</style></head><body>\
         <h1>{} · {}</h1><div class=\"meta\">{}: {} – {} · {}: {} – {} · {}: {} · {}: {}</div>",
        words.title,
        escape(&report.shop_name),
        words.title,
        escape(&report.shop_name),
        words.period,
        report.period.first_day,
        report.period.last_day,
        words.baseline,
        report.baseline.first_day,
        report.baseline.last_day,
        words.category,
        escape(&report.category),
        words.peers,
        report.peer_shops,
    );
    if report.findings.is_empty() {
        let _ = write!(out, "<p>{}</p>", words.none);
    }
    for f in &report.findings {
        finding(&mut out, f, language, words);
    }
    out.push_str("</body></html>");
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
