//! Contract §1: who sees and changes what. Owner, a member of the same org,
//! a user of another org and a caller without a key, over every endpoint.

mod common;

use common::{assert_error, connector_id, connector_path, result_ids, TestServer, CONNECTORS};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    s: TestServer,
    owner: String,
    member: String,
    outsider: String,
    shared: Value,
    private: Value,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let owner = s.create_key("acme", "alice");
    let member = s.create_key("acme", "bob");
    let outsider = s.create_key("globex", "carol");
    let shared = s.create_email_connector(&owner, "shared", true).await;
    let private = s.create_email_connector(&owner, "private", false).await;
    World {
        s,
        owner,
        member,
        outsider,
        shared,
        private,
    }
}

/// The 404 a caller gets for someone else's connector is byte-for-byte the
/// 404 for a connector that never existed (bar the request id).
async fn assert_hidden(resp: reqwest::Response) {
    let mut body = assert_error(resp, 404, "CONNECTOR_NOT_FOUND").await;
    body["requestId"] = Value::Null;
    assert_eq!(
        body,
        json!({"statusCode": 404, "message": "Connector not found", "errorCode": "CONNECTOR_NOT_FOUND", "requestId": null})
    );
}

#[tokio::test]
async fn read_access_follows_ownership_and_org_sharing() {
    let w = world().await;
    let s = &w.s;
    for c in [&w.shared, &w.private] {
        assert_eq!(s.get(&connector_path(c), &w.owner).await.status(), 200);
        assert_error(
            s.get_without_key(&connector_path(c)).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
        assert_hidden(s.get(&connector_path(c), &w.outsider).await).await;
    }
    let seen = s.get_json(&connector_path(&w.shared), &w.member).await;
    assert_eq!(
        seen, w.shared,
        "an org member sees a shared connector as it is"
    );
    assert_hidden(s.get(&connector_path(&w.private), &w.member).await).await;
    let never = format!("{CONNECTORS}/{}", uuid::Uuid::now_v7());
    assert_hidden(s.get(&never, &w.member).await).await;
}

#[tokio::test]
async fn only_the_owner_may_update_or_delete() {
    let w = world().await;
    let s = &w.s;
    for c in [&w.shared, &w.private] {
        for key in [&w.member, &w.outsider] {
            assert_hidden(
                s.put_json(&connector_path(c), key, &json!({"label": "hijacked"}))
                    .await,
            )
            .await;
            assert_hidden(s.delete(&connector_path(c), key).await).await;
            assert_hidden(
                s.delete(&format!("{}?force_delete=true", connector_path(c)), key)
                    .await,
            )
            .await;
        }
        let unchanged = s.get_json(&connector_path(c), &w.owner).await;
        assert_eq!(&unchanged, c, "others' attempts changed nothing");
        assert_error(
            s.request(Method::PUT, &connector_path(c), None)
                .json(&json!({"label": "x"}))
                .send()
                .await
                .unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;
        assert_error(
            s.request(Method::DELETE, &connector_path(c), None)
                .send()
                .await
                .unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
    let mut body = w.shared.clone();
    body["label"] = json!("renamed");
    assert_eq!(
        s.put_json(&connector_path(&w.shared), &w.owner, &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        s.delete(&connector_path(&w.shared), &w.owner)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn lists_show_exactly_what_each_caller_may_see() {
    let w = world().await;
    let s = &w.s;
    let member_own = s.create_email_connector(&w.member, "bob's", false).await;
    let outsider_shared = s
        .create_email_connector(&w.outsider, "globex shared", true)
        .await;
    let ids = |v: Value| result_ids(&v, "connector_id");
    let id = |c: &Value| connector_id(c).to_string();
    let list = |key: &str, q: &str| s.get(&format!("{CONNECTORS}{q}"), key);

    assert_eq!(
        ids(list(&w.owner, "").await.json().await.unwrap()),
        vec![id(&w.private), id(&w.shared)]
    );
    assert_eq!(
        ids(list(&w.member, "").await.json().await.unwrap()),
        vec![id(&member_own), id(&w.shared)]
    );
    assert_eq!(
        ids(list(&w.member, "?ownership=shared")
            .await
            .json()
            .await
            .unwrap()),
        vec![id(&w.shared)]
    );
    assert_eq!(
        ids(list(&w.member, "?ownership=owned")
            .await
            .json()
            .await
            .unwrap()),
        vec![id(&member_own)]
    );
    assert_eq!(
        ids(list(&w.outsider, "").await.json().await.unwrap()),
        vec![id(&outsider_shared)]
    );
    assert_error(s.get_without_key(CONNECTORS).await, 401, "UNAUTHORIZED").await;

    // Unsharing hides the connector from the org at once.
    let mut body = w.shared.clone();
    body["share_with_org"] = json!(false);
    assert_eq!(
        s.put_json(&connector_path(&w.shared), &w.owner, &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        ids(list(&w.member, "").await.json().await.unwrap()),
        vec![id(&member_own)]
    );
    assert_hidden(s.get(&connector_path(&w.shared), &w.member).await).await;
}

#[tokio::test]
async fn creating_assigns_the_callers_user_and_org() {
    let w = world().await;
    let c = w.s.create_email_connector(&w.outsider, "mine", false).await;
    assert_eq!(c["user_id"], "carol");
    assert_eq!(c["org_id"], "globex");
}

/// Requests in flight together share key and connector lookups and writes
/// (one query or one commit for many): each still gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_many_callers_each_get_their_own_answer() {
    let s = TestServer::start().await;
    let callers: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, user)| s.create_key(&format!("org{i}"), user))
        .collect();
    let body =
        json!({"type": "email", "label": "desk", "config": {"allowed_emails": ["d@x.example"]}});
    let creates: Vec<_> = (0..90)
        .map(|i| {
            let key = callers[i % 3].clone();
            let create = s.post_json(CONNECTORS, &key, &body);
            tokio::spawn(async move {
                let resp = create.await;
                assert_eq!(resp.status(), 201);
                let c: Value = resp.json().await.unwrap();
                (i % 3, c["connector_id"].as_str().unwrap().to_string())
            })
        })
        .collect();
    let mut owned: Vec<(usize, String)> = vec![];
    for create in creates {
        owned.push(create.await.unwrap());
    }
    let users = ["alice", "bob", "carol"];
    let reads: Vec<_> = (0..360)
        .map(|i| {
            let (owner, id) = owned[i % owned.len()].clone();
            let reader = (owner + i / owned.len()) % 3;
            let read = s.get(&format!("{CONNECTORS}/{id}"), &callers[reader]);
            tokio::spawn(async move {
                let resp = read.await;
                if reader == owner {
                    assert_eq!(resp.status(), 200);
                    let c: Value = resp.json().await.unwrap();
                    assert_eq!(
                        (c["connector_id"].as_str(), c["user_id"].as_str()),
                        (Some(id.as_str()), Some(users[owner]))
                    );
                } else {
                    assert_eq!(
                        resp.status(),
                        404,
                        "{} reads {id} of {}",
                        users[reader],
                        users[owner]
                    );
                }
            })
        })
        .collect();
    for read in reads {
        read.await.unwrap();
    }
    for (i, key) in callers.iter().enumerate() {
        let list = s.get_json(&format!("{CONNECTORS}?limit=100"), key).await;
        let mut listed: Vec<&str> = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connector_id"].as_str().unwrap())
            .collect();
        let mut expected: Vec<&str> = owned
            .iter()
            .filter(|(o, _)| *o == i)
            .map(|(_, id)| id.as_str())
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected, "{}'s connectors", users[i]);
    }
}
