//! Fulfillment: the calendar, the network of warehouses and carriers, delivery promises
//! before an order and smart dispatch after its payment. Pure functions over the shard's
//! state; the shard applies their decisions (stock and capacity) in one command.

mod book;
pub mod calendar;
pub mod capacity;
pub mod dispatch;
pub mod network;
pub mod promise;

pub use book::{
    AddressNotServed, Command, ConfigureFulfillment, DeliveryChoice, Fulfilling, FulfillmentBook, ReaddressPlan,
    Readdressed, ReportShortage, ShortageNotice,
};
pub use calendar::{Calendar, DayKind, LocalDate};
pub use capacity::{CapacityBook, Slot};
pub use dispatch::{Candidate, DispatchDecision, DispatchInput, ParcelPlan, decide_dispatch};
pub use network::{
    CARRIER_SERVICES, CarrierId, CarrierService, CutoffRegion, CutoffTime, FulfillmentSettings, OperatingHours,
    ServiceLevel, Shift, WarehouseSite,
};
pub use promise::{DeliveryOption, Destination, Promise, PromiseContext, ScheduledWindow, delivery_options};
