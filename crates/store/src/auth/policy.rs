//! Authorization rules as pure functions: no I/O, unit-tested for every role and action.

use uuid::Uuid;

use crate::models::project_members::ProjectRole;
use crate::models::users::Role;
use flowtrack_core::error::AppError;

/// The outcome of a permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// The caller may see the resource but not do this: 403.
    Forbidden,
    /// The caller may not even know the resource exists: 404.
    Hidden,
}

impl Access {
    pub fn check(self) -> Result<(), AppError> {
        match self {
            Self::Allowed => Ok(()),
            Self::Forbidden => Err(AppError::Forbidden(
                "Your role in this project does not allow this.".into(),
            )),
            Self::Hidden => Err(AppError::NotFound),
        }
    }
}

/// What a caller may do to a project and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    /// Read the project, its board, tasks, members, comments, activity and reports.
    View,
    /// Comment on its tasks (viewers too).
    Comment,
    /// Edit the project and create, edit, move and delete its tasks.
    Edit,
    /// Add, change and remove members; delete the project.
    Own,
}

/// The role a user acts with in a project: admins act as owner everywhere.
pub fn effective_role(caller_role: Role, membership: Option<ProjectRole>) -> Option<ProjectRole> {
    if caller_role == Role::Admin {
        Some(ProjectRole::Owner)
    } else {
        membership
    }
}

/// Project permissions by role. A non-member is answered 404 whatever the action.
pub fn project_access(role: Option<ProjectRole>, action: ProjectAction) -> Access {
    use ProjectAction::{Comment, Edit, Own, View};
    use ProjectRole::{Editor, Owner};
    let Some(role) = role else {
        return Access::Hidden;
    };
    let allowed = match action {
        View | Comment => true,
        Edit => matches!(role, Owner | Editor),
        Own => role == Owner,
    };
    if allowed {
        Access::Allowed
    } else {
        Access::Forbidden
    }
}

/// Editing or deleting a comment: its author, or the project's owner (admins included).
pub fn comment_access(role: Option<ProjectRole>, is_author: bool) -> Access {
    match role {
        None => Access::Hidden,
        Some(ProjectRole::Owner) => Access::Allowed,
        Some(_) if is_author => Access::Allowed,
        Some(_) => Access::Forbidden,
    }
}

/// Removing a member: the owner, or the member leaving on their own.
pub fn member_removal_access(role: Option<ProjectRole>, is_self: bool) -> Access {
    match role {
        None => Access::Hidden,
        Some(ProjectRole::Owner) => Access::Allowed,
        Some(_) if is_self => Access::Allowed,
        Some(_) => Access::Forbidden,
    }
}

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

    #[test]
    fn project_permission_matrix() {
        use Access::{Allowed as A, Forbidden as F, Hidden as H};
        use ProjectAction::*;
        let roles = [
            Some(ProjectRole::Owner),
            Some(ProjectRole::Editor),
            Some(ProjectRole::Viewer),
            None,
        ];
        // rows: View, Comment, Edit, Own; columns: owner, editor, viewer, non-member
        let expected = [
            (View, [A, A, A, H]),
            (Comment, [A, A, A, H]),
            (Edit, [A, A, F, H]),
            (Own, [A, F, F, H]),
        ];
        for (action, row) in expected {
            for (role, want) in roles.iter().zip(row) {
                assert_eq!(project_access(*role, action), want, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn admins_act_as_owner() {
        assert_eq!(effective_role(Role::Admin, None), Some(ProjectRole::Owner));
        assert_eq!(
            effective_role(Role::Admin, Some(ProjectRole::Viewer)),
            Some(ProjectRole::Owner)
        );
        assert_eq!(
            effective_role(Role::Member, Some(ProjectRole::Viewer)),
            Some(ProjectRole::Viewer)
        );
        assert_eq!(effective_role(Role::Member, None), None);
    }

    #[test]
    fn comment_and_member_removal_rules() {
        use Access::*;
        assert_eq!(comment_access(Some(ProjectRole::Owner), false), Allowed);
        assert_eq!(comment_access(Some(ProjectRole::Viewer), true), Allowed);
        assert_eq!(comment_access(Some(ProjectRole::Editor), false), Forbidden);
        assert_eq!(comment_access(None, true), Hidden);
        assert_eq!(
            member_removal_access(Some(ProjectRole::Owner), false),
            Allowed
        );
        assert_eq!(
            member_removal_access(Some(ProjectRole::Viewer), true),
            Allowed
        );
        assert_eq!(
            member_removal_access(Some(ProjectRole::Editor), false),
            Forbidden
        );
        assert_eq!(member_removal_access(None, true), Hidden);
    }

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
