//! Behind a reverse proxy: with the proxy's address in `FLOWTRACK_TRUSTED_PROXIES`, each
//! client forwarded by it has its own rate limits (the right-most `X-Forwarded-For` entry
//! the proxy did not write itself is the client), and a client cannot pick its address by
//! sending the header itself. (Without trusted proxies the header is ignored:
//! `auth::forwarded_headers_do_not_escape_the_address_limits`.)

use serde_json::json;

use crate::helpers::*;

async fn register_from(app: &TestApp, forwarded_for: Option<&str>) -> u16 {
    let mut request = app.post("/auth/register");
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request
        .json(&json!({"email": unique_email(), "password": PASSWORD, "full_name": "Via proxy"}))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn failed_login_from(app: &TestApp, forwarded_for: &str, email: &str) -> u16 {
    app.post("/auth/login")
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": "not the password"}))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_client_behind_a_trusted_proxy_has_its_own_limits() {
    // The test client connects from 127.0.0.1: the "proxy".
    let app = TestApp::spawn_with(|cfg| {
        cfg.trusted_proxies =
            flowtrack_core::client_addr::TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8")
                .expect("proxies");
        cfg.register_per_hour = 1;
        cfg.login_max_failures = 1;
    })
    .await;

    assert_eq!(register_from(&app, Some("203.0.113.1")).await, 201);
    assert_eq!(
        register_from(&app, Some("203.0.113.1")).await,
        429,
        "same client"
    );
    assert_eq!(
        register_from(&app, Some("203.0.113.2")).await,
        201,
        "another client"
    );
    // A client that writes the header itself gets its real address appended by the proxy:
    // the spoofed entry on the left is not believed.
    assert_eq!(
        register_from(&app, Some("203.0.113.99, 203.0.113.1")).await,
        429,
        "a spoofed left entry does not make a new client"
    );
    // Trusted hops on the right are skipped; all-trusted gives the left-most.
    assert_eq!(
        register_from(&app, Some("203.0.113.3, 10.1.1.1")).await,
        201
    );
    assert_eq!(
        register_from(&app, Some("203.0.113.3, 10.2.2.2")).await,
        429
    );
    // No header, or garbage in it: the peer (the proxy itself) is the client.
    assert_eq!(register_from(&app, None).await, 201);
    assert_eq!(register_from(&app, Some("not-an-address")).await, 429);

    // Login failures per client address: 10 × 1 from one client, then it is limited…
    for n in 0..10 {
        let status = failed_login_from(&app, "198.51.100.1", &unique_email()).await;
        assert_eq!(status, 401, "failure {n}");
    }
    assert_eq!(
        failed_login_from(&app, "198.51.100.1", &unique_email()).await,
        429
    );
    // …and the others are not locked out with it.
    assert_eq!(
        failed_login_from(&app, "198.51.100.2", &unique_email()).await,
        401
    );
}
