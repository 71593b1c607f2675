//! People working the package center's alerts: acknowledge, assign to a staff member, note,
//! resolve. The rules raise, escalate and resolve alerts by themselves ([`super::sla`]); this
//! is the merchant's side of the same alert, kept on it so that the shard stays its one owner.
//!
//! Only an open alert can be worked: once resolved (by the rules or a person) it is history.
//! A person resolving an alert whose rule still holds *dismisses that condition*: the rules do
//! not raise it again while it stays as it was (same clock start, same or lower level); they
//! raise the next occurrence when it gets worse (a warning times out) or a new episode starts
//! (a stalled parcel moves and stalls again). See [`super::AlertBook::reconcile`].

use crate::catalog::Text;
use crate::ids::ShopId;
use crate::logistics::sla::AlertKey;
use crate::time::Timestamp;

/// The longest note, in characters.
pub const ALERT_NOTE_CHARS_MAX: usize = 500;
/// The most notes one alert keeps: the alert is held in the shard's memory while open, so its
/// notes are bounded; the next note is refused ([`WorkRefusal::NotesFull`]).
pub const NOTES_PER_ALERT_MAX: usize = 50;

/// The text of a note or of a resolution: 1 to [`ALERT_NOTE_CHARS_MAX`] characters.
pub type NoteText = Text<ALERT_NOTE_CHARS_MAX>;

/// A staff member, by id. Staff accounts live outside the shard: the reference is kept as
/// given, never checked against them here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct StaffRef(i64);

impl StaffRef {
    pub fn new(id: i64) -> Option<StaffRef> {
        (id > 0).then_some(StaffRef(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Who worked an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Worker {
    /// A program with the shop's API token.
    ShopToken,
    /// A platform administrator's token.
    PlatformAdmin,
    /// A signed-in staff member of the shop.
    Staff(StaffRef),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acknowledgement {
    pub at: Timestamp,
    pub by: Worker,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertNote {
    pub at: Timestamp,
    pub by: Worker,
    pub text: NoteText,
}

/// A person's resolution (the alert's `resolved_at` says when).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolution {
    pub by: Worker,
    pub note: NoteText,
}

/// The people's side of an alert. Notes are append-only, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertWork {
    pub acknowledged: Option<Acknowledgement>,
    pub assignee: Option<StaffRef>,
    pub notes: Vec<AlertNote>,
    /// `None` on an open alert, and on one the rules resolved.
    pub resolution: Option<Resolution>,
}

/// What a person does to an alert.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AlertAction {
    Acknowledge,
    /// Assigns the alert to a staff member, or to nobody.
    Assign(Option<StaffRef>),
    Note(NoteText),
    Resolve(NoteText),
}

/// A person's action on one alert of `shop`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkAlert {
    pub shop: ShopId,
    pub alert: AlertKey,
    pub by: Worker,
    pub action: AlertAction,
}

/// What an action did, which names its event (`alert.acknowledged`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worked {
    Acknowledged,
    Assigned,
    Noted,
    Resolved,
}

impl Worked {
    pub const ALL: [Worked; 4] = [Worked::Acknowledged, Worked::Assigned, Worked::Noted, Worked::Resolved];

    pub const fn as_str(self) -> &'static str {
        match self {
            Worked::Acknowledged => "acknowledged",
            Worked::Assigned => "assigned",
            Worked::Noted => "noted",
            Worked::Resolved => "resolved",
        }
    }
}

/// Why an action on an alert was refused, checked in this order: the alert must be the
/// shop's and known, then open; then the action's own rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WorkRefusal {
    /// No such alert of this shop (or it is of a parcel no longer on its way).
    UnknownAlert,
    /// The alert is resolved: nothing more can be done to it.
    AlertResolved,
    AlreadyAcknowledged,
    /// The alert has [`NOTES_PER_ALERT_MAX`] notes.
    NotesFull,
}

impl WorkRefusal {
    pub const fn code(self) -> &'static str {
        match self {
            WorkRefusal::UnknownAlert => "unknown_alert",
            WorkRefusal::AlertResolved => "alert_resolved",
            WorkRefusal::AlreadyAcknowledged => "alert_already_acknowledged",
            WorkRefusal::NotesFull => "alert_notes_full",
        }
    }
}

/// Applies an action that keeps the alert open (resolving is the alert book's: it leaves the
/// open set).
pub(crate) fn apply_to_open(
    work: &mut AlertWork,
    action: AlertAction,
    by: Worker,
    now: Timestamp,
) -> Result<Worked, WorkRefusal> {
    match action {
        AlertAction::Acknowledge => {
            if work.acknowledged.is_some() {
                return Err(WorkRefusal::AlreadyAcknowledged);
            }
            work.acknowledged = Some(Acknowledgement { at: now, by });
            Ok(Worked::Acknowledged)
        }
        AlertAction::Assign(assignee) => {
            work.assignee = assignee;
            Ok(Worked::Assigned)
        }
        AlertAction::Note(text) => {
            if work.notes.len() >= NOTES_PER_ALERT_MAX {
                return Err(WorkRefusal::NotesFull);
            }
            work.notes.push(AlertNote { at: now, by, text });
            Ok(Worked::Noted)
        }
        AlertAction::Resolve(note) => {
            work.resolution = Some(Resolution { by, note });
            Ok(Worked::Resolved)
        }
    }
}
