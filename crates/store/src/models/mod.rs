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
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $wire)] #[serde(rename = $wire)] $variant,)+
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
