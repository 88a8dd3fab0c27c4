//! Framework-level behaviour: problem+json for every failure, request ids, CORS, limits.

use crate::helpers::*;

#[tokio::test]
async fn unknown_route_is_a_problem_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route").send().await.expect("send");
    assert_problem(response, 404, "not_found").await;
}
