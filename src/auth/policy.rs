//! Authorization rules as pure functions: no I/O, unit-tested for every role and action.

use uuid::Uuid;

use crate::models::users::Role;

/// What the caller knows about the target when asking to see a user.
pub struct UserVisibility {
    pub caller_id: Uuid,
    pub caller_role: Role,
    pub target_id: Uuid,
    pub shares_a_project: bool,
}

/// `GET /users/{id}`: admins see everyone, users see themselves and the people they share a
/// project with. Everyone else is answered 404 (no existence leak).
pub fn can_see_user(v: &UserVisibility) -> bool {
    v.caller_role == Role::Admin || v.caller_id == v.target_id || v.shares_a_project
}

/// Whether a change to an account removes an active admin (so the last one must be kept).
pub fn removes_an_admin(
    current_role: Role,
    currently_active: bool,
    new_role: Role,
    new_active: bool,
) -> bool {
    current_role == Role::Admin && currently_active && !(new_role == Role::Admin && new_active)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visibility(role: Role, same: bool, shares: bool) -> UserVisibility {
        let caller = Uuid::now_v7();
        UserVisibility {
            caller_id: caller,
            caller_role: role,
            target_id: if same { caller } else { Uuid::now_v7() },
            shares_a_project: shares,
        }
    }

    #[test]
    fn user_visibility_matrix() {
        for (role, same, shares, expected) in [
            (Role::Admin, false, false, true),
            (Role::Member, true, false, true),
            (Role::Member, false, true, true),
            (Role::Member, false, false, false),
        ] {
            assert_eq!(
                can_see_user(&visibility(role, same, shares)),
                expected,
                "{role:?} same={same} shares={shares}"
            );
        }
    }

    #[test]
    fn admin_removal_is_detected() {
        use Role::{Admin, Member};
        assert!(removes_an_admin(Admin, true, Member, true));
        assert!(removes_an_admin(Admin, true, Admin, false));
        assert!(!removes_an_admin(Admin, true, Admin, true));
        assert!(
            !removes_an_admin(Admin, false, Member, false),
            "already inactive"
        );
        assert!(!removes_an_admin(Member, true, Member, false));
    }
}
