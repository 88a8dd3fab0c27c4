//! The three states of a field in a partial update.

/// A field of a PATCH body that may also be cleared with `null`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Absent: leave as it is.
    #[default]
    Unchanged,
    /// `null`: clear it.
    Clear,
    Set(T),
}

impl<T: Clone> Patch<T> {
    /// The value after this patch is applied to `current`.
    pub fn apply_to(&self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Unchanged => current,
            Patch::Clear => None,
            Patch::Set(value) => Some(value.clone()),
        }
    }
}

impl<T> Patch<T> {
    /// The new value, if one is given.
    pub fn set(&self) -> Option<&T> {
        match self {
            Patch::Set(value) => Some(value),
            Patch::Unchanged | Patch::Clear => None,
        }
    }
}
