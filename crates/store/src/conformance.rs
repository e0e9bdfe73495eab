//! The conformance suite: what every [`Store`] backend must do. A backend's tests
//! call [`run_all`] on a fresh, empty store.

use crate::{
    chain_hash, AccessTouch, AccountRow, CredentialRow, IamOp, IamRow, KmsKeyRow, ListFilter,
    ListQuery, ListSort, Mutation, MutationOp, Narrowing, NewAudit, NewEvent, RootSealed, Scope,
    SealedRow, SecretRow, Store, StoreError, VersionRow, WordGroup, WordProbe, GENESIS_HASH,
};
use std::sync::Arc;

fn scope(account: &str) -> Scope {
    Scope {
        account_id: account.into(),
        region: "us-east-1".into(),
    }
}

pub fn secret_row(account: &str, name: &str) -> SecretRow {
    SecretRow {
        id: 0,
        account_id: account.into(),
        region: "us-east-1".into(),
        name: name.into(),
        arn: format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{name}-AbCdEf"),
        description: None,
        kms_key_id: None,
        kind: None,
        created_ms: 1_000,
        last_changed_ms: 1_000,
        last_accessed_ms: None,
        deleted_ms: None,
        purge_after_ms: None,
        tags: None,
        attrs: serde_json::json!({}),
        revision: 0,
    }
}

pub fn version(id: &str, labels: &[&str]) -> VersionRow {
    VersionRow {
        version_id: id.into(),
        created_ms: 1_000,
        last_accessed_ms: None,
        labels: labels
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        value_kind: "string".into(),
        kms_key_id: "key".into(),
        wrapped_data_key: vec![1, 2, 3],
        ciphertext: vec![4, 5, 6],
    }
}

/// A mutation of `secret` with `versions`, its audit record and its event.
pub fn mutation(op: MutationOp, secret: SecretRow, versions: Vec<VersionRow>) -> Mutation {
    Mutation {
        also: Vec::new(),
        op,
        audit: NewAudit {
            at_ms: 1,
            body: format!("{{\"name\":\"{}\"}}", secret.name),
        },
        event: Some(NewEvent {
            at_ms: 1,
            account_id: secret.account_id.clone(),
            region: secret.region.clone(),
            body: "{}".into(),
        }),
        secret,
        insert_versions: versions,
        relabel: vec![],
        delete_versions: vec![],
        reseal: vec![],
        prune_before_ms: None,
    }
}

/// The audit record an IAM write carries.
fn iam_audit() -> NewAudit {
    NewAudit {
        at_ms: 1,
        body: r#"{"eventName":"CreateUser"}"#.into(),
    }
}

/// The outbox record an IAM write carries.
fn iam_event() -> NewEvent {
    NewEvent {
        at_ms: 1,
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        body: r#"{"source":"aws.iam"}"#.into(),
    }
}

pub async fn run_all(store: Arc<dyn Store>) {
    create_and_read(&*store).await;
    optimistic_concurrency(&*store).await;
    concurrent_writers_lose_nothing(store.clone()).await;
    racing_writes_are_answered_each(store.clone()).await;
    purge(&*store).await;
    audit_chain_and_events(&*store).await;
    principals_and_keys(&*store).await;
    iam_entities(&*store).await;
    touches(&*store).await;
    rotation_schedule(&*store).await;
    names_sort_bytewise(&*store).await;
    root_key_fingerprint(&*store).await;
    meta_settings(&*store).await;
    root_sealed_values(&*store).await;
    listing_pages(&*store).await;
    versions_and_pruning(&*store).await;
    delivery_bookkeeping(&*store).await;
    one_change_many_events(&*store).await;
    // Last: it cuts the history the tests above look at.
    history_retention(&*store).await;
}

/// A secret carries its labelled versions; the others are read by id or all
/// together; pruning drops versions without a label older than the cut-off
/// beyond the newest `KEEP_VERSIONS`, and nothing else.
async fn versions_and_pruning(store: &dyn Store) {
    let account = "666666666666";
    let mut row = secret_row(account, "history");
    let mut h0 = version("h0", &["AWSCURRENT"]);
    h0.created_ms = 0;
    let c = store
        .commit(mutation(MutationOp::Create, row.clone(), vec![h0]))
        .await
        .unwrap();
    row.id = c.secret_id;
    let mut rev = c.revision;
    // 110 more versions, created at 1..=110 ms; each takes AWSCURRENT, the one
    // before keeps "KEEP" for h5 only.
    for i in 1..=110i64 {
        let mut v = version(&format!("h{i}"), &["AWSCURRENT"]);
        v.created_ms = i;
        let prev = format!("h{}", i - 1);
        let prev_labels = if i - 1 == 5 {
            vec!["KEEP".to_string()]
        } else {
            vec![]
        };
        let mut m = mutation(
            MutationOp::Update {
                expected_revision: rev,
            },
            row.clone(),
            vec![v],
        );
        m.relabel = vec![(prev, prev_labels)];
        m.prune_before_ms = Some(50);
        rev = store.commit(m).await.unwrap().revision;
    }
    let s = store.secret_by_arn(&row.arn).await.unwrap().unwrap();
    let carried: Vec<&str> = s.versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(
        carried,
        ["h5", "h110"],
        "only labelled versions are carried"
    );
    let h7 = store.version(row.id, "h7").await.unwrap();
    assert!(
        h7.is_none(),
        "old, unlabelled and beyond the newest 100: pruned"
    );
    let h60 = store
        .version(row.id, "h60")
        .await
        .unwrap()
        .expect("young: kept");
    assert!(h60.labels.is_empty());
    let all = store.all_versions(row.id).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|v| v.version_id.as_str()).collect();
    // Kept: h5 (labelled), h11..h110 (the newest 100); h0..h10 but h5 were
    // older than 50 ms and beyond the newest 100.
    assert_eq!(ids.len(), 101, "{ids:?}");
    assert_eq!(ids[0], "h5");
    assert_eq!(ids[1], "h11");
    assert_eq!(*ids.last().unwrap(), "h110");

    // The word index follows a new description, and keeps it through a write
    // that changes only versions.
    let probe = |word: &str| ListQuery {
        sort: ListSort::Name,
        descending: false,
        after: None,
        limit: 10,
        include_deleted: false,
        budget: None,
        narrow: Narrowing {
            probe: Some(WordProbe {
                fields: vec![crate::words::DESCRIPTION],
                prefixes: vec![word.into()],
            }),
            ..Narrowing::default()
        },
    };
    let all: ListFilter = Arc::new(|_| true);
    let found = |q: ListQuery| {
        let all = all.clone();
        async move {
            let page = store.list_page(&scope(account), &q, all).await.unwrap();
            page.secrets.len()
        }
    };
    row.description = Some("Fresh words".into());
    let m = mutation(
        MutationOp::Update {
            expected_revision: rev,
        },
        row.clone(),
        vec![],
    );
    rev = store.commit(m).await.unwrap().revision;
    assert_eq!(found(probe("fresh")).await, 1);
    let m = mutation(
        MutationOp::Update {
            expected_revision: rev,
        },
        row.clone(),
        vec![version("h111", &[])],
    );
    rev = store.commit(m).await.unwrap().revision;
    assert_eq!(
        found(probe("words")).await,
        1,
        "kept through a value-only write"
    );
    // Resealing replaces a version's key and sealed bytes, and nothing else.
    let mut resealed = version("h110", &["IGNORED"]);
    resealed.kms_key_id = "arn:new-key".into();
    resealed.wrapped_data_key = b"new-wrapped".to_vec();
    resealed.ciphertext = b"new-ciphertext".to_vec();
    let mut m = mutation(
        MutationOp::Update {
            expected_revision: rev,
        },
        row.clone(),
        vec![],
    );
    m.reseal = vec![resealed];
    store.commit(m).await.unwrap();
    let h110 = store.version(row.id, "h110").await.unwrap().unwrap();
    assert_eq!(
        (h110.kms_key_id.as_str(), h110.ciphertext.as_slice()),
        ("arn:new-key", b"new-ciphertext".as_slice())
    );
    assert_eq!(h110.wrapped_data_key, b"new-wrapped");
    assert_eq!(h110.labels, ["AWSCURRENT"], "labels untouched");
    row.description = None;
}

/// Every page of a listing, walked with positions, in `q`'s order.
async fn walk(store: &dyn Store, account: &str, q: &ListQuery, keep: &ListFilter) -> Vec<String> {
    let mut q = q.clone();
    let mut names = Vec::new();
    loop {
        let page = store
            .list_page(&scope(account), &q, keep.clone())
            .await
            .unwrap();
        assert!(page.secrets.len() <= q.limit);
        for s in &page.secrets {
            assert!(
                !s.versions.is_empty(),
                "a page's secrets come with their versions"
            );
            names.push(s.row.name.clone());
        }
        if !page.more {
            return names;
        }
        // A page cut short by the budget says where the next starts.
        q.after = Some(page.resume.unwrap_or_else(|| {
            let last = page.secrets.last().expect("a full page");
            (q.sort.key_of(&last.row), last.row.id)
        }));
    }
}

/// Pages in each order, both directions, with a filter, without deleted
/// secrets unless asked, and exact while secrets are created mid-walk.
async fn listing_pages(store: &dyn Store) {
    let account = "555555555555";
    for (i, name) in ["e", "c", "a", "d", "b"].iter().enumerate() {
        let mut row = secret_row(account, name);
        row.created_ms = 10 + i as i64;
        row.last_changed_ms = 100 - i as i64;
        row.last_accessed_ms = (i % 2 == 0).then_some(1_000 + i as i64);
        if *name == "d" {
            row.deleted_ms = Some(1);
            row.purge_after_ms = Some(i64::MAX);
        }
        store
            .commit(mutation(
                MutationOp::Create,
                row,
                vec![version("l1", &["AWSCURRENT"])],
            ))
            .await
            .unwrap();
    }
    let all: ListFilter = Arc::new(|_| true);
    let q = |sort, descending, limit| ListQuery {
        sort,
        descending,
        after: None,
        limit,
        include_deleted: false,
        budget: None,
        narrow: Narrowing::default(),
    };
    assert_eq!(
        walk(store, account, &q(ListSort::Created, false, 2), &all).await,
        ["e", "c", "a", "b"]
    );
    assert_eq!(
        walk(store, account, &q(ListSort::Created, true, 3), &all).await,
        ["b", "a", "c", "e"]
    );
    assert_eq!(
        walk(store, account, &q(ListSort::Name, false, 1), &all).await,
        ["a", "b", "c", "e"]
    );
    assert_eq!(
        walk(store, account, &q(ListSort::LastChanged, false, 2), &all).await,
        ["b", "a", "c", "e"]
    );
    // Never accessed (c) first, as accessed at 0.
    assert_eq!(
        walk(store, account, &q(ListSort::LastAccessed, false, 2), &all).await,
        ["c", "e", "a", "b"]
    );
    let mut with_deleted = q(ListSort::Name, false, 10);
    with_deleted.include_deleted = true;
    assert_eq!(
        walk(store, account, &with_deleted, &all).await,
        ["a", "b", "c", "d", "e"]
    );
    // A probe narrows the walk through the word index to a superset; the
    // filter still decides.
    let mut probed = q(ListSort::Name, false, 1);
    probed.narrow.probe = Some(WordProbe {
        fields: vec![crate::words::NAME],
        prefixes: vec!["a".into(), "c".into()],
    });
    assert_eq!(walk(store, account, &probed, &all).await, ["a", "c"]);
    let only_c: ListFilter = Arc::new(|r: &SecretRow| r.name == "c");
    assert_eq!(walk(store, account, &probed, &only_c).await, ["c"]);
    probed.narrow.probe = Some(WordProbe {
        fields: vec![crate::words::DESCRIPTION],
        prefixes: vec!["a".into()],
    });
    assert!(
        walk(store, account, &probed, &all).await.is_empty(),
        "no descriptions"
    );
    // Name prefixes are exact and case-sensitive, ORed, in every order, and
    // keep to the position; with a probe (a superset of the filter) too.
    let mut named = q(ListSort::Created, true, 1);
    named.narrow.name_prefixes = vec!["e".into(), "b".into(), "A".into()];
    assert_eq!(walk(store, account, &named, &all).await, ["b", "e"]);
    for (sort, want) in [
        (ListSort::Created, ["e", "b"]),
        (ListSort::LastChanged, ["b", "e"]),
        (ListSort::LastAccessed, ["e", "b"]),
        (ListSort::Name, ["b", "e"]),
    ] {
        named.sort = sort;
        named.descending = false;
        assert_eq!(walk(store, account, &named, &all).await, want, "{sort:?}");
    }
    named.narrow.probe = Some(WordProbe {
        fields: vec![crate::words::NAME],
        prefixes: vec!["b".into(), "c".into()],
    });
    let b_or_c: ListFilter = Arc::new(|r: &SecretRow| matches!(r.name.as_str(), "b" | "c"));
    assert_eq!(walk(store, account, &named, &b_or_c).await, ["b"]);
    listing_by_tags(store, account).await;
    listing_by_words(store, account).await;
    listing_with_exclusions(store, account).await;
    let vowels: ListFilter = Arc::new(|r: &SecretRow| matches!(r.name.as_str(), "a" | "e"));
    assert_eq!(
        walk(store, account, &q(ListSort::Name, false, 1), &vowels).await,
        ["a", "e"]
    );
    let page = store
        .list_page(&scope(account), &q(ListSort::Name, false, 4), all.clone())
        .await
        .unwrap();
    assert!(!page.more, "an exact last page says nothing follows");

    // A walk by creation while secrets are created: nothing seen twice, none
    // of those there at the start skipped.
    let first = store
        .list_page(
            &scope(account),
            &q(ListSort::Created, false, 2),
            all.clone(),
        )
        .await
        .unwrap();
    for name in ["f", "g"] {
        let mut row = secret_row(account, name);
        row.created_ms = 1; // sorts before the walk's position
        store
            .commit(mutation(
                MutationOp::Create,
                row,
                vec![version("l1", &["AWSCURRENT"])],
            ))
            .await
            .unwrap();
    }
    let last = &first.secrets.last().unwrap().row;
    let mut rest = q(ListSort::Created, false, 2);
    rest.after = Some((ListSort::Created.key_of(last), last.id));
    let mut seen: Vec<String> = first.secrets.iter().map(|s| s.row.name.clone()).collect();
    seen.extend(walk(store, account, &rest, &all).await);
    assert_eq!(seen, ["e", "c", "a", "b"]);
}

/// The first fingerprint is kept; the same one matches, another does not.
async fn root_key_fingerprint(store: &dyn Store) {
    assert!(
        store.check_root_key("fp-one").await.unwrap(),
        "first use records it"
    );
    assert!(
        store.check_root_key("fp-one").await.unwrap(),
        "the same key matches"
    );
    assert!(
        !store.check_root_key("fp-two").await.unwrap(),
        "another key does not"
    );
    assert!(
        store.check_root_key("fp-one").await.unwrap(),
        "and changed nothing"
    );
}

/// Settings: read, listed by prefix (literally: `_` is no wildcard), put,
/// removed, and swapped only from the value they hold.
async fn meta_settings(store: &dyn Store) {
    assert_eq!(store.meta_get("t_a/1").await.unwrap(), None);
    store.meta_put("t_a/1", Some("one")).await.unwrap();
    store.meta_put("t_a/2", Some("two")).await.unwrap();
    store.meta_put("tXa/3", Some("three")).await.unwrap();
    store.meta_put("t_a/2", Some("deux")).await.unwrap();
    assert_eq!(
        store.meta_get("t_a/2").await.unwrap().as_deref(),
        Some("deux")
    );
    assert_eq!(
        store.meta_list("t_a/").await.unwrap(),
        vec![
            ("t_a/1".into(), "one".into()),
            ("t_a/2".into(), "deux".into())
        ]
    );
    assert!(!store.meta_swap("t_a/1", "uno", "eins").await.unwrap());
    assert!(store.meta_swap("t_a/1", "one", "eins").await.unwrap());
    assert_eq!(
        store.meta_get("t_a/1").await.unwrap().as_deref(),
        Some("eins")
    );
    assert!(
        !store.meta_swap("t_a/9", "", "x").await.unwrap(),
        "absent: no swap"
    );
    store.meta_put("t_a/1", None).await.unwrap();
    assert_eq!(store.meta_get("t_a/1").await.unwrap(), None);
}

/// Root-sealed values page in id order and are replaced only from the bytes
/// they hold; a document's revision moves on when it is.
async fn root_sealed_values(store: &dyn Store) {
    let account = "777777777777";
    for n in 1..=3 {
        store
            .insert_credential(CredentialRow {
                access_key_id: format!("AKIDSEAL{n}"),
                account_id: account.into(),
                principal_arn: format!("arn:aws:iam::{account}:root"),
                wrapped_secret: vec![n; 8],
                status: "Active".into(),
                created_ms: 1,
            })
            .await
            .unwrap();
    }
    let arn = format!("arn:aws:kms:us-east-1:{account}:key/seal");
    store
        .insert_kms_key(KmsKeyRow {
            account_id: account.into(),
            region: "us-east-1".into(),
            key_id: "seal".into(),
            arn: arn.clone(),
            alias: "alias/aws/secretsmanager".into(),
            wrapped: vec![5; 8],
            created_ms: 1,
        })
        .await
        .unwrap();
    let doc = |name: &str| IamOp::Put {
        row: IamRow {
            account_id: account.into(),
            kind: "sealed-doc".into(),
            name: name.into(),
            body: format!("{{\"n\":\"{name}\"}}"),
            revision: 0,
        },
        expected_revision: None,
    };
    store
        .iam_write(vec![doc("b"), doc("a")], iam_event(), iam_audit())
        .await
        .unwrap();

    let mine = |rows: Vec<SealedRow>| -> Vec<String> {
        rows.into_iter()
            .map(|r| r.id)
            .filter(|id| id.contains("SEAL") || id.starts_with(account))
            .collect()
    };
    let first = store
        .root_sealed(RootSealed::Credentials, "AKIDSEAL", 2)
        .await
        .unwrap();
    assert_eq!(mine(first), vec!["AKIDSEAL1", "AKIDSEAL2"]);
    let rest = store
        .root_sealed(RootSealed::Credentials, "AKIDSEAL2", 10)
        .await
        .unwrap();
    assert_eq!(mine(rest), vec!["AKIDSEAL3"]);
    let docs = store
        .root_sealed(RootSealed::IamDocs("sealed-doc"), "", 10)
        .await
        .unwrap();
    assert_eq!(docs.len(), 2, "only that kind: {docs:?}");
    assert_eq!(docs[0].id, format!("{account}/a"));
    assert_eq!(docs[0].bytes, b"{\"n\":\"a\"}");
    let after_a = store
        .root_sealed(RootSealed::IamDocs("sealed-doc"), &docs[0].id, 10)
        .await
        .unwrap();
    assert_eq!(after_a.len(), 1);
    assert_eq!(after_a[0].id, format!("{account}/b"));

    assert!(!store
        .reseal(RootSealed::Credentials, "AKIDSEAL1", &[9; 8], &[0; 8])
        .await
        .unwrap());
    assert!(store
        .reseal(RootSealed::Credentials, "AKIDSEAL1", &[1; 8], &[0; 9])
        .await
        .unwrap());
    let c = store.credential("AKIDSEAL1").await.unwrap().unwrap();
    assert_eq!(c.wrapped_secret, vec![0; 9]);
    assert!(store
        .reseal(RootSealed::KmsKeys, &arn, &[5; 8], &[6; 8])
        .await
        .unwrap());
    let k = store
        .kms_key(&scope(account), "seal")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k.wrapped, vec![6; 8]);
    let before = store
        .iam_get(account, "sealed-doc", "a")
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .reseal(
            RootSealed::IamDocs("sealed-doc"),
            &docs[0].id,
            b"{\"n\":\"a\"}",
            b"{\"n\":\"A\"}"
        )
        .await
        .unwrap());
    let after = store
        .iam_get(account, "sealed-doc", "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.body, "{\"n\":\"A\"}");
    assert_eq!(after.revision, before.revision + 1);
    assert!(!store
        .reseal(
            RootSealed::IamDocs("sealed-doc"),
            &docs[0].id,
            b"{\"n\":\"a\"}",
            b"{}"
        )
        .await
        .unwrap());
}

/// Due rotations by `Rotation.DueMs`, and interrupted ones by `Rotation.Pending`;
/// deleted secrets never rotate.
async fn rotation_schedule(store: &dyn Store) {
    let account = "333333333333";
    let make = |name: &str, attrs: serde_json::Value, deleted: bool| {
        let mut row = secret_row(account, name);
        row.attrs = attrs;
        if deleted {
            row.deleted_ms = Some(1);
            row.purge_after_ms = Some(i64::MAX);
        }
        mutation(
            MutationOp::Create,
            row,
            vec![version("r1", &["AWSCURRENT"])],
        )
    };
    let cases = [
        (
            "due",
            serde_json::json!({"Rotation": {"DueMs": 5_000}}),
            false,
        ),
        (
            "later",
            serde_json::json!({"Rotation": {"DueMs": 9_000}}),
            false,
        ),
        (
            "pending",
            serde_json::json!({"Rotation": {"Pending": {"token": "t"}}}),
            false,
        ),
        (
            "unset",
            serde_json::json!({"Rotation": {"Pending": null}}),
            false,
        ),
        ("gone", serde_json::json!({"Rotation": {"DueMs": 1}}), true),
    ];
    for (name, attrs, deleted) in cases {
        store.commit(make(name, attrs, deleted)).await.unwrap();
    }
    let arn = |n: &str| secret_row(account, n).arn;
    let mut due = store.rotation_due(5_000, false).await.unwrap();
    due.retain(|a| a.contains(account));
    assert_eq!(due, vec![arn("due")]);
    let mut due = store.rotation_due(5_000, true).await.unwrap();
    due.retain(|a| a.contains(account));
    due.sort();
    assert_eq!(due, vec![arn("due"), arn("pending")]);
}

/// Listing is in byte order of names, whatever the database's collation.
async fn names_sort_bytewise(store: &dyn Store) {
    let account = "444444444444";
    for name in ["b", "B", "a", "_x", "A/b"] {
        store
            .commit(mutation(
                MutationOp::Create,
                secret_row(account, name),
                vec![version("s1", &["AWSCURRENT"])],
            ))
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .list_secrets(&scope(account))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.row.name)
        .collect();
    assert_eq!(names, ["A/b", "B", "_x", "a", "b"]);
}

async fn create_and_read(store: &dyn Store) {
    let row = secret_row("111111111111", "app/db");
    let m = mutation(
        MutationOp::Create,
        row.clone(),
        vec![version("v1", &["AWSCURRENT"])],
    );
    let c = store.commit(m.clone()).await.expect("create");
    assert_eq!(c.revision, 1);
    let got = store
        .secret_by_name(&scope("111111111111"), "app/db")
        .await
        .unwrap()
        .expect("by name");
    assert_eq!(got.row.id, c.secret_id);
    assert_eq!(got.versions, vec![version("v1", &["AWSCURRENT"])]);
    let by_arn = store
        .secret_by_arn(&row.arn)
        .await
        .unwrap()
        .expect("by arn");
    assert_eq!(by_arn.row.name, "app/db");
    assert!(matches!(store.commit(m).await, Err(StoreError::NameTaken)));
    // Same name in another account is another secret.
    let mut other = secret_row("222222222222", "app/db");
    other.arn.push('x');
    store
        .commit(mutation(MutationOp::Create, other, vec![]))
        .await
        .expect("other account");
    assert_eq!(
        store
            .list_secrets(&scope("111111111111"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .secret_by_name(&scope("111111111111"), "nope")
        .await
        .unwrap()
        .is_none());
}

async fn optimistic_concurrency(store: &dyn Store) {
    let s = store
        .secret_by_name(&scope("111111111111"), "app/db")
        .await
        .unwrap()
        .unwrap();
    let mut row = s.row.clone();
    row.description = Some("d".into());
    let mut m = mutation(
        MutationOp::Update {
            expected_revision: s.row.revision,
        },
        row.clone(),
        vec![version("v2", &["AWSCURRENT"])],
    );
    m.relabel = vec![("v1".into(), vec!["AWSPREVIOUS".into()])];
    let c = store.commit(m.clone()).await.expect("update");
    assert_eq!(c.revision, s.row.revision + 1);
    assert!(
        matches!(store.commit(m).await, Err(StoreError::Conflict)),
        "stale revision must be refused"
    );
    let s = store
        .secret_by_name(&scope("111111111111"), "app/db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.row.description.as_deref(), Some("d"));
    let labels: Vec<_> = s
        .versions
        .iter()
        .map(|v| (v.version_id.as_str(), v.labels.clone()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("v1", vec!["AWSPREVIOUS".to_string()]),
            ("v2", vec!["AWSCURRENT".to_string()])
        ]
    );
}

/// Many writers add a version each to one secret, retrying on conflict: every
/// version must be there and exactly one must carry AWSCURRENT.
async fn concurrent_writers_lose_nothing(store: Arc<dyn Store>) {
    let sc = scope("333333333333");
    store
        .commit(mutation(
            MutationOp::Create,
            secret_row("333333333333", "hot"),
            vec![version("v0", &["AWSCURRENT"])],
        ))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let s = store.secret_by_name(&sc, "hot").await.unwrap().unwrap();
                let current = s
                    .versions
                    .iter()
                    .find(|v| v.labels.iter().any(|l| l == "AWSCURRENT"))
                    .unwrap();
                let mut m = mutation(
                    MutationOp::Update {
                        expected_revision: s.row.revision,
                    },
                    s.row.clone(),
                    vec![version(&format!("w{i}"), &["AWSCURRENT"])],
                );
                m.relabel = vec![(current.version_id.clone(), vec![])];
                match store.commit(m).await {
                    Ok(_) => break,
                    Err(StoreError::Conflict) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = store.secret_by_name(&sc, "hot").await.unwrap().unwrap();
    assert_eq!(store.all_versions(s.row.id).await.unwrap().len(), 17);
    let currents = s
        .versions
        .iter()
        .filter(|v| v.labels.iter().any(|l| l == "AWSCURRENT"))
        .count();
    assert_eq!(currents, 1);
}

/// Writes racing each other (a store may commit them together) are each
/// answered for themselves: of four creates of one name one wins and three
/// are refused, the others all land; the audit chain grows by exactly the
/// writes that landed, as one chain, with an event each.
async fn racing_writes_are_answered_each(store: Arc<dyn Store>) {
    let account = "333333333334";
    let head = store.audit_head().await.unwrap();
    let (after_seq, prev) = head.unwrap_or((0, GENESIS_HASH.to_string()));
    let events_before = store.events_after(0, 100_000).await.unwrap().len();
    let names: Vec<String> = (0..20)
        .map(|i| format!("race-{i}"))
        .chain((0..4).map(|_| "race-dup".to_string()))
        .collect();
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let store = store.clone();
            let m = mutation(
                MutationOp::Create,
                secret_row(account, name),
                vec![version("v1", &["AWSCURRENT"])],
            );
            tokio::spawn(async move { store.commit(m).await })
        })
        .collect();
    let (mut landed, mut taken) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => landed += 1,
            Err(StoreError::NameTaken) => taken += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((landed, taken), (21, 3));
    let audits = store.audit_records(after_seq, 100).await.unwrap();
    assert_eq!(audits.len(), 21, "one record per write that landed");
    let mut prev = prev;
    for a in &audits {
        assert_eq!(a.prev_hash, prev, "one chain");
        prev.clone_from(&a.hash);
    }
    let events = store.events_after(0, 100_000).await.unwrap().len();
    assert_eq!(events - events_before, 21);
    for name in &names {
        assert!(store
            .secret_by_name(&scope(account), name)
            .await
            .unwrap()
            .is_some());
    }
}

async fn purge(store: &dyn Store) {
    let mut row = secret_row("111111111111", "doomed");
    row.arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:doomed-QwErTy".into();
    row.purge_after_ms = Some(5_000);
    row.deleted_ms = Some(1_000);
    let c = store
        .commit(mutation(
            MutationOp::Create,
            row.clone(),
            vec![version("d1", &["AWSCURRENT"])],
        ))
        .await
        .unwrap();
    assert!(store
        .due_for_purge(4_999)
        .await
        .unwrap()
        .iter()
        .all(|(id, _, _)| *id != c.secret_id));
    let due = store.due_for_purge(5_000).await.unwrap();
    let (id, rev, arn) = due
        .into_iter()
        .find(|(id, _, _)| *id == c.secret_id)
        .expect("due");
    assert_eq!(arn, row.arn);
    row.id = id;
    let stale = mutation(
        MutationOp::Purge {
            expected_revision: rev + 7,
        },
        row.clone(),
        vec![],
    );
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::Conflict)
    ));
    store
        .commit(mutation(
            MutationOp::Purge {
                expected_revision: rev,
            },
            row,
            vec![],
        ))
        .await
        .unwrap();
    assert!(store
        .secret_by_name(&scope("111111111111"), "doomed")
        .await
        .unwrap()
        .is_none());
}

async fn audit_chain_and_events(store: &dyn Store) {
    let records = store.audit_records(0, 1_000).await.unwrap();
    assert!(records.len() >= 4);
    let mut prev = GENESIS_HASH.to_string();
    for r in &records {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(r.hash, chain_hash(&prev, &r.body));
        prev = r.hash.clone();
    }
    let last = records.last().unwrap();
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((last.seq, last.hash.clone())),
        "the head is the newest record"
    );
    // Failed mutations leave no audit record and no event.
    let events = store.events_after(0, 1_000).await.unwrap();
    assert_eq!(events.len(), records.len());
    assert_eq!(
        store.latest_event_seq().await.unwrap(),
        events.last().unwrap().seq
    );
    let later = store.events_after(events[1].seq, 1_000).await.unwrap();
    assert_eq!(later.len(), events.len() - 2);
}

async fn principals_and_keys(store: &dyn Store) {
    let account = AccountRow {
        account_id: "111111111111".into(),
        name: "root".into(),
        created_ms: 1,
    };
    store.insert_account(account.clone()).await.unwrap();
    assert!(matches!(
        store.insert_account(account.clone()).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.account("111111111111").await.unwrap(),
        Some(account.clone())
    );
    let later = AccountRow {
        account_id: "222222222222".into(),
        name: "second".into(),
        created_ms: 2,
    };
    store.insert_account(later.clone()).await.unwrap();
    assert_eq!(store.accounts().await.unwrap(), vec![account, later]);
    let cred = CredentialRow {
        access_key_id: "AKIDTEST".into(),
        account_id: "111111111111".into(),
        principal_arn: "arn:aws:iam::111111111111:root".into(),
        wrapped_secret: vec![9; 40],
        status: "Active".into(),
        created_ms: 1,
    };
    store.insert_credential(cred.clone()).await.unwrap();
    assert!(matches!(
        store.insert_credential(cred.clone()).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(store.credential("AKIDTEST").await.unwrap(), Some(cred));
    assert_eq!(store.credential("AKIDNONE").await.unwrap(), None);
    let key = KmsKeyRow {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        key_id: "k-1".into(),
        arn: "arn:aws:kms:us-east-1:111111111111:key/k-1".into(),
        alias: "alias/aws/secretsmanager".into(),
        wrapped: vec![7; 60],
        created_ms: 1,
    };
    store.insert_kms_key(key.clone()).await.unwrap();
    let mut dup = key.clone();
    dup.key_id = "k-2".into();
    assert!(
        matches!(store.insert_kms_key(dup).await, Err(StoreError::Duplicate)),
        "alias is unique"
    );
    assert_eq!(
        store
            .kms_key(&scope("111111111111"), "alias/aws/secretsmanager")
            .await
            .unwrap(),
        Some(key.clone())
    );
    assert_eq!(
        store
            .kms_key(&scope("111111111111"), &key.arn)
            .await
            .unwrap(),
        Some(key)
    );
}

async fn touches(store: &dyn Store) {
    let s = store
        .secret_by_name(&scope("111111111111"), "app/db")
        .await
        .unwrap()
        .unwrap();
    let touch = |day| AccessTouch {
        secret_id: s.row.id,
        version_id: Some("v2".into()),
        day_ms: day,
    };
    store.touch_accessed(vec![touch(86_400_000)]).await.unwrap();
    store.touch_accessed(vec![touch(0)]).await.unwrap();
    let after = store
        .secret_by_name(&scope("111111111111"), "app/db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.row.last_accessed_ms,
        Some(86_400_000),
        "never moves backwards"
    );
    assert_eq!(
        after.row.revision, s.row.revision,
        "a touch is not a mutation"
    );
    let v2 = after
        .versions
        .iter()
        .find(|v| v.version_id == "v2")
        .unwrap();
    assert_eq!(v2.last_accessed_ms, Some(86_400_000));
}

async fn iam_entities(store: &dyn Store) {
    let row = |name: &str, body: &str| IamRow {
        account_id: "111111111111".into(),
        kind: "user".into(),
        name: name.into(),
        body: body.into(),
        revision: 0,
    };
    let put = |r: IamRow, expected_revision| IamOp::Put {
        row: r,
        expected_revision,
    };
    store
        .iam_write(
            vec![put(row("bob", "{}"), None), put(row("alice", "{}"), None)],
            iam_event(),
            iam_audit(),
        )
        .await
        .unwrap();
    let events = store.latest_event_seq().await.unwrap();
    assert!(matches!(
        store
            .iam_write(vec![put(row("bob", "{}"), None)], iam_event(), iam_audit())
            .await,
        Err(StoreError::Duplicate)
    ));
    // A failed write leaves no event; a committed one exactly one.
    assert_eq!(store.latest_event_seq().await.unwrap(), events);
    let names: Vec<String> = store
        .iam_list("111111111111", "user")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(store
        .iam_list("111111111111", "role")
        .await
        .unwrap()
        .is_empty());
    // A stale revision loses, and a failed batch writes nothing at all.
    store
        .iam_write(
            vec![put(row("bob", r#"{"v":2}"#), Some(1))],
            iam_event(),
            iam_audit(),
        )
        .await
        .unwrap();
    let after = store.events_after(events, 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].body, iam_event().body);
    // Its audit record is in the chain, after the failed write's none.
    let audits = store.audit_records(0, 1000).await.unwrap();
    let last = audits.last().unwrap();
    assert_eq!(last.body, iam_audit().body);
    let before_last = &audits[audits.len() - 2];
    assert_eq!(last.prev_hash, before_last.hash, "the chain is unbroken");
    let failed = store
        .iam_write(
            vec![
                put(row("alice", r#"{"v":2}"#), Some(1)),
                put(row("bob", r#"{"v":3}"#), Some(1)),
            ],
            iam_event(),
            iam_audit(),
        )
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict)));
    let alice = store
        .iam_get("111111111111", "user", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((alice.body.as_str(), alice.revision), ("{}", 1));
    let bob = store
        .iam_get("111111111111", "user", "bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bob.body.as_str(), bob.revision), (r#"{"v":2}"#, 2));
    // Keys by owner, status changes and deletion.
    let key = |id: &str| CredentialRow {
        access_key_id: id.into(),
        account_id: "111111111111".into(),
        principal_arn: "arn:aws:iam::111111111111:user/bob".into(),
        wrapped_secret: vec![1; 40],
        status: "Active".into(),
        created_ms: 5,
    };
    store.insert_credential(key("AKIABOB1")).await.unwrap();
    store.insert_credential(key("AKIABOB2")).await.unwrap();
    store
        .iam_write(
            vec![IamOp::SetCredentialStatus {
                access_key_id: "AKIABOB1".into(),
                status: "Inactive".into(),
            }],
            iam_event(),
            iam_audit(),
        )
        .await
        .unwrap();
    let keys = store
        .credentials_of("arn:aws:iam::111111111111:user/bob")
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].status, "Inactive");
    store
        .iam_write(
            vec![
                IamOp::DeleteCredential {
                    access_key_id: "AKIABOB2".into(),
                },
                IamOp::Delete {
                    account_id: "111111111111".into(),
                    kind: "user".into(),
                    name: "bob".into(),
                    expected_revision: 2,
                },
            ],
            iam_event(),
            iam_audit(),
        )
        .await
        .unwrap();
    assert_eq!(store.credential("AKIABOB2").await.unwrap(), None);
    assert_eq!(
        store.iam_get("111111111111", "user", "bob").await.unwrap(),
        None
    );
}

fn retention(before_ms: Option<i64>) -> crate::Retention {
    crate::Retention {
        events_before_ms: before_ms,
        audit_before_ms: before_ms,
        now_ms: 20_000,
        event_time: "1970-01-01T00:00:20Z".into(),
    }
}

/// The chain of mutations from its anchor, checked link by link; returns the
/// anchors its newest pruning record states.
async fn check_from_anchor(store: &dyn Store) -> Option<crate::AuditAnchors> {
    let anchors = store.audit_anchors().await.unwrap();
    let start = anchors.records.as_ref().map_or(GENESIS_HASH, |a| &a.hash);
    let mut check = crate::ChainCheck::resume(crate::ChainKey([0; 32]), true, start);
    let mut stated = None;
    for r in store.audit_records(0, 100_000).await.unwrap() {
        assert!(
            check.next(&r.prev_hash, &r.body, &r.hash),
            "record {}",
            r.seq
        );
        stated = crate::AuditAnchors::stated_by(&r.body).or(stated);
    }
    assert_eq!(
        stated.as_ref(),
        Some(&anchors),
        "the newest pruning record states the anchors"
    );
    stated
}

/// Old events and audit records go as a prefix, the newest of each always
/// stays, and the chain of mutations starts at an anchor that its own newest
/// record states.
async fn history_retention(store: &dyn Store) {
    let nothing = store.prune_history(&retention(None)).await.unwrap();
    assert_eq!(nothing, crate::Pruned::default());
    let old_events = store.events_after(0, 100_000).await.unwrap();
    let old_audit = store.audit_records(0, 100_000).await.unwrap();
    assert_eq!(store.event_horizon().await.unwrap(), 0);
    for i in 0..3 {
        let mut m = mutation(
            MutationOp::Create,
            secret_row("333333333333", &format!("kept-{i}")),
            vec![version(&format!("v{i}"), &["AWSCURRENT"])],
        );
        m.audit.at_ms = 10_000;
        m.event.as_mut().unwrap().at_ms = 10_000;
        store.commit(m).await.unwrap();
    }
    let latest = store.latest_event_seq().await.unwrap();

    let pruned = store.prune_history(&retention(Some(5_000))).await.unwrap();
    assert_eq!(pruned.events, old_events.len());
    assert_eq!(pruned.audit, old_audit.len());
    assert_eq!(
        store.event_horizon().await.unwrap(),
        old_events.last().unwrap().seq
    );
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), 3);
    assert_eq!(store.latest_event_seq().await.unwrap(), latest);
    let anchors = check_from_anchor(store).await.unwrap();
    let a = anchors.records.unwrap();
    let last_old = old_audit.last().unwrap();
    assert_eq!(
        (a.through, a.hash.as_str()),
        (last_old.seq, last_old.hash.as_str())
    );
    assert_eq!(a.pruned, old_audit.len() as u64);
    assert_eq!(
        store.audit_records(0, 100).await.unwrap().len(),
        4,
        "3 kept and the pruning record"
    );

    let again = store.prune_history(&retention(Some(5_000))).await.unwrap();
    assert_eq!(
        again,
        crate::Pruned::default(),
        "nothing more is old enough"
    );

    store
        .prune_history(&retention(Some(i64::MAX)))
        .await
        .unwrap();
    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 1, "the newest event stays");
    assert_eq!(events[0].seq, latest);
    assert_eq!(store.latest_event_seq().await.unwrap(), latest);
    assert_eq!(
        store.audit_records(0, 100).await.unwrap().len(),
        2,
        "the newest record stays, and the new pruning record"
    );
    let anchors = check_from_anchor(store).await.unwrap();
    assert_eq!(anchors.records.unwrap().pruned, old_audit.len() as u64 + 3);
}

/// Cursors only move forward; a dead letter commits with its cursor; letters
/// are listed per account, redriven and settled.
async fn delivery_bookkeeping(store: &dyn Store) {
    use crate::{DeadLetterQuery, NewDeadLetter};
    assert_eq!(store.delivery_cursor("a/r/rule/t1").await.unwrap(), None);
    store
        .advance_delivery("a/r/rule/t1", 5, None)
        .await
        .unwrap();
    store
        .advance_delivery("a/r/rule/t1", 3, None)
        .await
        .unwrap();
    assert_eq!(store.delivery_cursor("a/r/rule/t1").await.unwrap(), Some(5));
    let dead = |account: &str, seq: i64| NewDeadLetter {
        account_id: account.into(),
        target: format!("{account}/r/rule/t1"),
        event_seq: seq,
        event: format!("{{\"seq\":{seq}}}"),
        error: "HTTP 500".into(),
        attempts: 3,
        at_ms: 7,
    };
    store
        .advance_delivery("a/r/rule/t1", 6, Some(dead("a", 6)))
        .await
        .unwrap();
    store
        .advance_delivery("a/r/rule/t1", 7, Some(dead("a", 7)))
        .await
        .unwrap();
    store
        .advance_delivery("b/r/rule/t1", 8, Some(dead("b", 8)))
        .await
        .unwrap();
    assert_eq!(store.delivery_cursor("a/r/rule/t1").await.unwrap(), Some(7));
    let q = |account: &str| DeadLetterQuery {
        account_id: Some(account.into()),
        limit: 10,
        ..DeadLetterQuery::default()
    };
    let a = store.dead_letters(&q("a")).await.unwrap();
    assert_eq!(a.iter().map(|d| d.event_seq).collect::<Vec<_>>(), [6, 7]);
    assert!(a
        .iter()
        .all(|d| !d.redrive && d.attempts == 3 && d.error == "HTTP 500"));
    assert_eq!(
        store.redrive_dead_letters("b", &[a[0].id]).await.unwrap(),
        0,
        "not b's letter"
    );
    assert_eq!(
        store.redrive_dead_letters("a", &[a[0].id]).await.unwrap(),
        1
    );
    let redrive = DeadLetterQuery {
        target: Some("a/r/rule/t1".into()),
        redrive_only: true,
        limit: 10,
        ..DeadLetterQuery::default()
    };
    let pending = store.dead_letters(&redrive).await.unwrap();
    assert_eq!(pending.iter().map(|d| d.id).collect::<Vec<_>>(), [a[0].id]);
    store
        .settle_dead_letter(a[0].id, Some("HTTP 503".into()))
        .await
        .unwrap();
    assert!(store.dead_letters(&redrive).await.unwrap().is_empty());
    let again = &store.dead_letters(&q("a")).await.unwrap()[0];
    assert_eq!((again.attempts, again.error.as_str()), (4, "HTTP 503"));
    assert_eq!(
        store.redrive_dead_letters("a", &[]).await.unwrap(),
        2,
        "all of a's"
    );
    store.settle_dead_letter(a[0].id, None).await.unwrap();
    assert_eq!(store.dead_letters(&q("a")).await.unwrap().len(), 1);
    assert_eq!(store.dead_letters(&q("b")).await.unwrap().len(), 1);
}

/// A change that causes several events appends them all, in order, with it.
async fn one_change_many_events(store: &dyn Store) {
    let before = store.latest_event_seq().await.unwrap();
    let mut m = mutation(
        MutationOp::Create,
        secret_row("444444444444", "several-events"),
        vec![version("v1", &["AWSCURRENT"])],
    );
    let audit_before = store.audit_head().await.unwrap().map_or(0, |(seq, _)| seq);
    for name in ["second", "third"] {
        let body = format!("{{\"n\":\"{name}\"}}");
        let event = NewEvent {
            at_ms: 1,
            account_id: "444444444444".into(),
            region: "us-east-1".into(),
            body: body.clone(),
        };
        m.also.push((event, NewAudit { at_ms: 1, body }));
    }
    let first_audit = m.audit.body.clone();
    store.commit(m).await.unwrap();
    let events = store.events_after(before, 10).await.unwrap();
    let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, ["{}", r#"{"n":"second"}"#, r#"{"n":"third"}"#]);
    // Each with its audit record, chained after the change's own.
    let audits = store.audit_records(audit_before, 10).await.unwrap();
    let bodies: Vec<&str> = audits.iter().map(|a| a.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            first_audit.as_str(),
            r#"{"n":"second"}"#,
            r#"{"n":"third"}"#
        ]
    );
    assert_eq!(audits[1].prev_hash, audits[0].hash);
    assert_eq!(audits[2].prev_hash, audits[1].hash);
}

/// Tag prefixes narrow a listing to secrets with a tag key or value starting
/// with one of a group's prefixes (case-sensitive, whatever JSON escapes),
/// every group matched.
async fn listing_by_tags(store: &dyn Store, account: &str) {
    let account = &format!("{}1", &account[..11]);
    let tagged: [(&str, &[(&str, &str)]); 5] = [
        ("t1", &[("team", "team-7")]),
        ("t2", &[("Team", "x")]),
        ("t3", &[("q\"uote", "ünï\\x")]),
        ("t4", &[]),
        ("t5", &[("other", "team-70")]),
    ];
    let made: Vec<Made> = tagged.iter().map(|(n, t)| (*n, None, *t)).collect();
    create_made(store, account, &made).await;
    let all: ListFilter = Arc::new(|_| true);
    for (groups, want) in [
        (vec![vec!["team"]], vec!["t1", "t5"]),
        (vec![vec!["q\"u"]], vec!["t3"]),
        (vec![vec!["ünï\\"]], vec!["t3"]),
        (vec![vec!["team-7"], vec!["other"]], vec!["t5"]),
        (vec![vec!["x", "team-70"]], vec!["t2", "t5"]),
        (vec![vec!["eam"]], vec![]),
    ] {
        let q = ListQuery {
            sort: ListSort::Created,
            descending: false,
            after: None,
            limit: 1,
            include_deleted: false,
            budget: None,
            narrow: Narrowing {
                tag_prefixes: groups
                    .iter()
                    .map(|g| g.iter().map(|p| (*p).to_string()).collect())
                    .collect(),
                ..Narrowing::default()
            },
        };
        assert_eq!(walk(store, account, &q, &all).await, want, "{groups:?}");
    }
}

/// A secret's name, description and tags.
type Made<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

/// Secrets with texts for the word and exclusion tests, created in this
/// order, in their own account.
async fn texts_account(store: &dyn Store, account: &str, n: char) -> String {
    let account = format!("{}{n}", &account[..11]);
    let made: [Made; 6] = [
        ("w1", Some("Team Database"), &[]),
        // U+212A KELVIN SIGN lowercases to `k`: "key" starts a word here.
        ("w2", Some("\u{212A}ey vault"), &[]),
        // U+0130 lowercases to `i` and a combining dot.
        ("w3", Some("\u{130}nstance"), &[]),
        ("w4", None, &[("Owner", "ops-Team")]),
        ("app/x", Some("shard s12x"), &[]),
        ("w6", Some("données ÉTÉ"), &[]),
    ];
    create_made(store, &account, &made).await;
    account
}

/// Creates each secret with its description and tags.
async fn create_made(store: &dyn Store, account: &str, made: &[Made<'_>]) {
    for (name, description, tags) in made {
        let mut row = secret_row(account, name);
        row.description = description.map(str::to_string);
        row.tags = (!tags.is_empty()).then(|| {
            tags.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        });
        let m = mutation(MutationOp::Create, row, vec![version("t", &["AWSCURRENT"])]);
        store.commit(m).await.unwrap();
    }
}

fn listing(sort: ListSort, descending: bool, narrow: Narrowing) -> ListQuery {
    ListQuery {
        sort,
        descending,
        after: None,
        limit: 1,
        include_deleted: false,
        budget: None,
        narrow,
    }
}

/// Word groups keep every secret whose texts hold each word of one of a
/// group's alternatives, lowercased as Rust lowercases (non-ASCII capitals
/// that become ASCII included), and never fewer: a word the engine cannot
/// test leaves the group out.
async fn listing_by_words(store: &dyn Store, account: &str) {
    use crate::words::{DESCRIPTION, NAME, TAG_KEY, TAG_VALUE};
    let account = &texts_account(store, account, '2').await;
    let all: ListFilter = Arc::new(|_| true);
    let everything = vec![NAME, DESCRIPTION, TAG_KEY, TAG_VALUE];
    let group = |fields: &[&'static str], alternatives: &[&[&str]]| WordGroup {
        fields: fields.to_vec(),
        alternatives: alternatives
            .iter()
            .map(|a| a.iter().map(|w| (*w).to_string()).collect())
            .collect(),
    };
    for (groups, want) in [
        (vec![group(&[DESCRIPTION], &[&["team"]])], vec!["w1"]),
        (vec![group(&[DESCRIPTION], &[&["key"]])], vec!["w2"]),
        (vec![group(&[DESCRIPTION], &[&["i"]])], vec!["w3"]),
        (vec![group(&everything, &[&["team"]])], vec!["w1", "w4"]),
        (vec![group(&everything, &[&["app", "x"]])], vec!["app/x"]),
        (
            vec![group(&[DESCRIPTION], &[&["s", "12", "x"], &["vault"]])],
            vec!["w2", "app/x"],
        ),
        (
            vec![
                group(&[DESCRIPTION], &[&["team"]]),
                group(&everything, &[&["w1"]]),
            ],
            vec!["w1"],
        ),
        (vec![group(&[DESCRIPTION], &[&["nothing"]])], vec![]),
        (
            vec![group(&[DESCRIPTION], &[&["données"]])],
            vec!["w1", "w2", "w3", "w4", "app/x", "w6"],
        ),
    ] {
        let narrow = Narrowing {
            words: groups.clone(),
            ..Narrowing::default()
        };
        // Pages cut short at any number of rows read walk to the same list,
        // both ways.
        for descending in [false, true] {
            let mut q = listing(ListSort::Created, descending, narrow.clone());
            let mut want = want.clone();
            if descending {
                want.reverse();
            }
            for budget in [Some(1), Some(2), Some(crate::words::SCAN_BUDGET), None] {
                q.budget = budget;
                let got = walk(store, account, &q, &all).await;
                assert_eq!(got, want, "{groups:?} {descending} {budget:?}");
            }
        }
    }
}

/// Excluded name prefixes drop exactly the secrets they start, with or
/// without prefixes, in every order and both directions, page by page.
async fn listing_with_exclusions(store: &dyn Store, account: &str) {
    let account = &texts_account(store, account, '3').await;
    let all: ListFilter = Arc::new(|_| true);
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let created = ["w1", "w2", "w3", "w4", "app/x", "w6"];
    for sort in [
        ListSort::Created,
        ListSort::LastChanged,
        ListSort::LastAccessed,
        ListSort::Name,
    ] {
        for descending in [false, true] {
            for (prefixes, excluded, want) in [
                (&[][..], &["w"][..], vec!["app/x"]),
                (&["w"][..], &["w1", "w2"][..], vec!["w3", "w4", "w6"]),
                (&[][..], &["app/", "w4"][..], vec!["w1", "w2", "w3", "w6"]),
                (
                    &[][..],
                    &["x"][..],
                    vec!["app/x", "w1", "w2", "w3", "w4", "w6"],
                ),
            ] {
                let narrow = Narrowing {
                    name_prefixes: strings(prefixes),
                    name_excluded: strings(excluded),
                    ..Narrowing::default()
                };
                let q = listing(sort, descending, narrow);
                // All times are equal: ties go by id, the order of creation.
                let mut want = want.clone();
                if sort == ListSort::Name {
                    want.sort_unstable();
                } else {
                    want.sort_by_key(|n| created.iter().position(|c| c == n));
                }
                if descending {
                    want.reverse();
                }
                let mut q = q;
                for budget in [Some(1), Some(3), Some(crate::words::SCAN_BUDGET), None] {
                    q.budget = budget;
                    let got = walk(store, account, &q, &all).await;
                    assert_eq!(got, want, "{sort:?} {descending} {excluded:?} {budget:?}");
                }
            }
        }
    }
}
