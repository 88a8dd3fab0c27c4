//! Request parsing: arbitrary bytes as a JSON body, read by every request type of the API
//! and by the field validators. Nothing may panic; a rejection is a 400 (bad JSON) or a 422
//! that names at least one field.

#![no_main]

use flowtrack_core::error::AppError;
use flowtrack::http::fields::{
    CommentBody, Description, Email, FieldValue, FullName, Labels, Name, NewPassword, Secret,
};
use flowtrack::http::input::parse_object;
use flowtrack_core::validate;
use flowtrack::routes::{auth, projects, tasks, users};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn read<T: TryFrom<Map<String, Value>, Error = AppError>>(object: &Map<String, Value>) {
    match T::try_from(object.clone()) {
        Ok(_) => {}
        Err(AppError::Validation(errors)) => {
            assert!(!errors.is_empty(), "a 422 must name a field");
        }
        Err(other) => panic!("unexpected rejection from a field reader: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let object = match parse_object(data) {
        Ok(object) => object,
        Err(AppError::BadRequest(_)) => return,
        Err(AppError::Validation(errors)) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "");
            return;
        }
        Err(other) => panic!("unexpected rejection from parse_object: {other:?}"),
    };

    read::<auth::RegisterRequest>(&object);
    read::<auth::LoginRequest>(&object);
    read::<auth::LoginForm>(&object);
    read::<auth::RefreshRequest>(&object);
    read::<users::UpdateMeRequest>(&object);
    read::<users::ChangePasswordRequest>(&object);
    read::<users::CreateUserRequest>(&object);
    read::<users::UpdateUserRequest>(&object);
    read::<projects::CreateProjectRequest>(&object);
    read::<projects::UpdateProjectRequest>(&object);
    read::<projects::AddMemberRequest>(&object);
    read::<projects::UpdateMemberRequest>(&object);
    read::<tasks::CreateTaskRequest>(&object);
    read::<tasks::UpdateTaskRequest>(&object);
    read::<tasks::MoveRequest>(&object);
    read::<tasks::CommentRequest>(&object);

    // Every value of the object through every validator.
    for value in object.values() {
        let _ = Name::parse(value.clone());
        let _ = FullName::parse(value.clone());
        let _ = Description::parse(value.clone());
        let _ = CommentBody::parse(value.clone());
        let _ = Email::parse(value.clone());
        let _ = NewPassword::parse(value.clone());
        let _ = Secret::parse(value.clone());
        let _ = bool::parse(value.clone());
        let _ = validate::uuid(value.clone());
        let _ = validate::date(value.clone());
        if let Ok(Labels(labels)) = Labels::parse(value.clone()) {
            assert!(
                labels.len() <= Labels::MAX_ITEMS,
                "too many labels accepted"
            );
            for label in &labels {
                let chars = label.chars().count();
                assert!((1..=50).contains(&chars), "label {label:?} accepted");
                assert_eq!(label.trim(), label, "labels are stored trimmed");
            }
        }
        if let Value::String(raw) = value {
            let _ = validate::normalize_email(raw);
            let _ = validate::check_password(raw);
            let _ = validate::parse_date(raw);
        }
    }
});
