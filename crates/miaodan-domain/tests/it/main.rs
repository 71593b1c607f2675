//! miaodan-domain's specification, one test binary: rules and refusals as sentences
//! (`*_spec`) and random sequences checked against the invariants (`*_properties`), all
//! through `ShardState::apply` and the pure functions, with shared builders in `common`.

mod address_change_spec;
mod after_sales_properties;
mod after_sales_spec;
mod alert_work_spec;
mod common;
mod diagnosis_spec;
mod flash_sale_controls_spec;
mod flash_sale_properties;
mod fulfillment_spec;
mod integrity_spec;
mod logistics_spec;
mod payment_properties;
mod payment_spec;
mod quality_spec;
mod risk_address_spec;
mod risk_links_spec;
mod risk_spec;
mod shard_fulfillment_spec;
mod shard_spec;
mod stock_properties;
