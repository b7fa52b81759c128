//! Users: upsert, read, list (search, keyset paging), delete.

use super::user;
use crate::store::{DynStore, ListQuery, User};

pub async fn upsert_get_list_delete(s: DynStore) {
    assert_eq!(s.get_user("alice").await.unwrap(), None);
    s.put_user(&user("bob")).await.unwrap();
    s.put_user(&user("alice")).await.unwrap();
    assert_eq!(s.get_user("alice").await.unwrap(), Some(user("alice")));

    let mut changed = user("alice");
    changed.password_hash = "$argon2id$v=19$new".into();
    changed.name = None;
    changed.email = Some("alice@example.com".into());
    s.put_user(&changed).await.unwrap();
    assert_eq!(s.get_user("alice").await.unwrap(), Some(changed.clone()));
    assert_eq!(s.list_users(&ListQuery::ALL).await.unwrap(), vec![changed, user("bob")]);

    // Usernames are exact: no case folding in the store.
    assert_eq!(s.get_user("Alice").await.unwrap(), None);

    assert!(s.delete_user("bob").await.unwrap());
    assert!(!s.delete_user("bob").await.unwrap());
    assert_eq!(s.get_user("bob").await.unwrap(), None);
    assert_eq!(s.list_users(&ListQuery::ALL).await.unwrap().len(), 1);
}

pub async fn search_and_page(s: DynStore) {
    let q = |search, after, limit| ListQuery { search, after, limit };
    for (name, email) in [
        ("carol", Some("carol@example.com")),
        ("dave", None),
        ("erin", Some("boss@corp.example")),
    ] {
        let mut u = user(name);
        u.email = email.map(str::to_owned);
        s.put_user(&u).await.unwrap();
    }
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(names(s.list_users(&q(Some("CORP"), None, 10)).await.unwrap()), ["erin"]);
    // Users' display names are searched too ("dave Example").
    assert_eq!(
        names(s.list_users(&q(Some("dave ex"), None, 10)).await.unwrap()),
        ["dave"]
    );
    assert_eq!(names(s.list_users(&q(None, Some("carol"), 1)).await.unwrap()), ["dave"]);
}
