//! SeaORM entities and the queries of each aggregate. Nothing here sees HTTP.

/// Declares an API enum once: its variants with their wire names, which are the same in
/// JSON, in the database and in error messages, listed in the order of `ApiEnum::ALL` (the
/// board order for statuses, the rank order for priorities).
macro_rules! api_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        // Container-level: utoipa reads `rename_all`, not a per-variant `rename` passed
        // through this macro. The wire names are the variants in snake_case (checked by
        // `wire_names_are_the_serialized_names` below).
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $wire)] $variant,)+
        }

        impl flowtrack_core::validate::ApiEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }
    };
}

pub mod activity_log;
pub mod api_tokens;
pub mod comments;
pub mod events;
pub mod notifications;
pub mod project_members;
pub mod projects;
pub mod refresh_tokens;
pub mod settings;
pub mod task_labels;
pub mod tasks;
pub mod users;
pub mod webhook_deliveries;
pub mod webhooks;

#[cfg(test)]
mod tests {
    use flowtrack_core::validate::ApiEnum;

    fn check<E: ApiEnum + serde::Serialize + std::fmt::Debug>() {
        for value in E::ALL {
            assert_eq!(
                serde_json::to_value(value).expect("serialize"),
                serde_json::json!(value.as_str()),
                "{value:?}"
            );
        }
    }

    /// The JSON name of every variant is its wire name (`api_enum!` spells it once, serde
    /// derives it from the variant).
    #[test]
    fn wire_names_are_the_serialized_names() {
        check::<super::tasks::TaskStatus>();
        check::<super::tasks::Priority>();
        check::<super::projects::ProjectStatus>();
        check::<super::project_members::ProjectRole>();
        check::<super::users::Role>();
        check::<super::api_tokens::TokenScope>();
        check::<super::webhook_deliveries::DeliveryState>();
    }
}
