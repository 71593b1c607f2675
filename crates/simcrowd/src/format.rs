//! The evening as JSON Lines (see `FORMAT.md`): written in one canonical order, read strictly,
//! so that traffic written by someone else is either read exactly or refused with its line.

use crate::{Account, Evening, SaleSpec, TapEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Write};

/// A file that is not an evening: the line (counted from 1) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FormatError {}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LineOut<'a> {
    Sale(&'a SaleSpec),
    Account(&'a Account),
    Tap(&'a TapEvent),
}

/// Writes the sale, then the accounts, then the taps, one JSON object per line.
pub fn write_jsonl(evening: &Evening, mut out: impl Write) -> std::io::Result<()> {
    let sale = std::iter::once(LineOut::Sale(&evening.sale));
    let accounts = evening.accounts.iter().map(LineOut::Account);
    let taps = evening.taps.iter().map(LineOut::Tap);
    for line in sale.chain(accounts).chain(taps) {
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads an evening written by [`write_jsonl`] or by hand in the same format; blank lines are
/// skipped, anything else that is not the format is refused with its line number.
pub fn read_jsonl(input: impl BufRead) -> Result<Evening, FormatError> {
    let mut reader = Reader::default();
    let mut last_line = 0;
    for (index, line) in input.lines().enumerate() {
        last_line = index + 1;
        let refuse = |message: String| FormatError {
            line: index + 1,
            message,
        };
        let line = line.map_err(|e| refuse(format!("cannot be read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        reader.line(&line).map_err(refuse)?;
    }
    let sale = reader.sale.ok_or(FormatError {
        line: last_line,
        message: "the file ends without a sale line".to_string(),
    })?;
    let mut accounts = reader.accounts;
    accounts.sort_by_key(|account| account.buyer);
    Ok(Evening {
        sale,
        accounts,
        taps: reader.taps,
    })
}

#[derive(Default)]
struct Reader {
    sale: Option<SaleSpec>,
    accounts: Vec<Account>,
    buyers: HashSet<u64>,
    taps: Vec<TapEvent>,
}

impl Reader {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let mut object: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        let kind = match object.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(other) => return Err(format!("\"type\" must be a string, not {other}")),
            None => return Err("no \"type\"".to_string()),
        };
        match kind.as_str() {
            "sale" => self.sale(fields(object)?),
            "account" => self.account(fields(object)?),
            "tap" => self.tap(fields(object)?),
            other => Err(format!("unknown type {other:?} (expected sale, account or tap)")),
        }
    }

    fn sale(&mut self, sale: SaleSpec) -> Result<(), String> {
        if self.sale.replace(sale).is_some() {
            return Err("a second sale line: one file is one sale".to_string());
        }
        Ok(())
    }

    fn account(&mut self, account: Account) -> Result<(), String> {
        if !self.buyers.insert(account.buyer) {
            return Err(format!("buyer {} has a second account line", account.buyer));
        }
        self.accounts.push(account);
        Ok(())
    }

    fn tap(&mut self, tap: TapEvent) -> Result<(), String> {
        if !self.buyers.contains(&tap.buyer) {
            return Err(format!(
                "a tap of buyer {} before (or without) their account line",
                tap.buyer
            ));
        }
        if tap.adcode.len() != 12 || !tap.adcode.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("adcode {:?} is not 12 digits", tap.adcode));
        }
        if let Some(previous) = self.taps.last().filter(|previous| previous.at_ms > tap.at_ms) {
            return Err(format!(
                "taps out of time order: {} after {}",
                tap.at_ms, previous.at_ms
            ));
        }
        self.taps.push(tap);
        Ok(())
    }
}

fn fields<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(object)).map_err(|e| e.to_string())
}
