//! `package_alerts.body` version 2: the version 1 alert with what people did to it (see
//! `miaodan_domain::logistics::work`). Frozen like every stored layout.

use super::stored::{ALERT, AlertV1, ms};
use crate::StoreError;
use miaodan_domain::Timestamp;
use miaodan_domain::logistics::work::{Acknowledgement, AlertNote, Resolution};
use miaodan_domain::logistics::{Alert, AlertWork, NoteText, StaffRef, Worker};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AlertV2 {
    v: u32,
    #[serde(flatten)]
    alert: AlertV1,
    work: AlertWorkV2,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct AlertWorkV2 {
    acknowledged: Option<StampV2>,
    assignee: Option<i64>,
    notes: Vec<NoteV2>,
    resolution: Option<ResolutionV2>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StampV2 {
    at: i64,
    by: WorkerV2,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct NoteV2 {
    at: i64,
    by: WorkerV2,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ResolutionV2 {
    by: WorkerV2,
    note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum WorkerV2 {
    #[serde(rename = "shop_token")]
    ShopToken,
    #[serde(rename = "platform_admin")]
    PlatformAdmin,
    #[serde(rename = "staff")]
    Staff(i64),
}

impl From<&Alert> for AlertV2 {
    fn from(a: &Alert) -> Self {
        let w = &a.work;
        AlertV2 {
            v: VERSION,
            alert: AlertV1::from(a),
            work: AlertWorkV2 {
                acknowledged: w.acknowledged.as_ref().map(|ack| StampV2 {
                    at: ack.at.unix_ms(),
                    by: ack.by.into(),
                }),
                assignee: w.assignee.map(StaffRef::get),
                notes: w
                    .notes
                    .iter()
                    .map(|n| NoteV2 {
                        at: n.at.unix_ms(),
                        by: n.by.into(),
                        text: n.text.as_str().into(),
                    })
                    .collect(),
                resolution: w.resolution.as_ref().map(|r| ResolutionV2 {
                    by: r.by.into(),
                    note: r.note.as_str().into(),
                }),
            },
        }
    }
}

impl TryFrom<AlertV2> for Alert {
    type Error = StoreError;

    fn try_from(a: AlertV2) -> Result<Self, StoreError> {
        let w = a.work;
        let mut alert = Alert::try_from(a.alert)?;
        alert.work = AlertWork {
            acknowledged: match w.acknowledged {
                Some(stamp) => Some(Acknowledgement {
                    at: ms(stamp.at),
                    by: worker(stamp.by)?,
                }),
                None => None,
            },
            assignee: w.assignee.map(staff).transpose()?,
            notes: w
                .notes
                .into_iter()
                .map(|n| {
                    Ok(AlertNote {
                        at: Timestamp::from_unix_ms(n.at),
                        by: worker(n.by)?,
                        text: NoteText::from_stored(n.text),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            resolution: match w.resolution {
                Some(r) => Some(Resolution {
                    by: worker(r.by)?,
                    note: NoteText::from_stored(r.note),
                }),
                None => None,
            },
        };
        Ok(alert)
    }
}

impl From<Worker> for WorkerV2 {
    fn from(worker: Worker) -> Self {
        match worker {
            Worker::ShopToken => WorkerV2::ShopToken,
            Worker::PlatformAdmin => WorkerV2::PlatformAdmin,
            Worker::Staff(staff) => WorkerV2::Staff(staff.get()),
        }
    }
}

fn worker(stored: WorkerV2) -> Result<Worker, StoreError> {
    Ok(match stored {
        WorkerV2::ShopToken => Worker::ShopToken,
        WorkerV2::PlatformAdmin => Worker::PlatformAdmin,
        WorkerV2::Staff(id) => Worker::Staff(staff(id)?),
    })
}

fn staff(id: i64) -> Result<StaffRef, StoreError> {
    StaffRef::new(id).ok_or_else(|| StoreError::corrupt(format!("bad {ALERT} json: invalid staff id {id}")))
}
