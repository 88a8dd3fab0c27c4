//! `/users/*`: self-service and admin management.

use crate::helpers::*;

#[tokio::test]
async fn member_cannot_list_users() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .get("/users")
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
}
