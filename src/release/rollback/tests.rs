use super::*;

fn d(n: u8) -> Digest {
    Digest::sha256_of(&[n])
}

fn record(kind: Kind, digest: u8, previous: Option<u8>, at: &str) -> Record {
    Record {
        kind,
        service: "api".into(),
        repository: "b.io/acme/api".into(),
        tags: vec!["prod".into()],
        digest: d(digest),
        previous_digest: previous.map(d),
        run_url: None,
        promotion_id: format!("id-{digest}-{at}"),
        created_at: at.into(),
        reason: None,
    }
}

fn step(digest: u8, kind: Kind, previous: Option<u8>) -> Step {
    Step {
        digest: d(digest),
        at: Some(format!("t{digest}")),
        kind,
        previous: previous.map(d),
        origin: CandidateOrigin::History,
    }
}

impl Choice {
    /// The digest taken and the facts.
    fn unwrap(self) -> (Digest, Vec<CandidateFact>) {
        (self.outcome.unwrap(), self.facts)
    }

    /// The refusal (a refusal it must be).
    fn unwrap_err(self) -> crate::error::Error {
        let e = self.outcome.unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Refused);
        e
    }
}

fn block_on(f: impl std::future::Future<Output = Result<Choice>>) -> Choice {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
        .unwrap()
}

#[test]
fn to_parses_every_form_and_names_what_it_takes() {
    assert_eq!(Target::parse("previous").unwrap(), Target::Previous);
    assert_eq!(Target::parse("").unwrap(), Target::Previous);
    assert_eq!(Target::parse("2").unwrap(), Target::Back(2));
    assert_eq!(
        Target::parse(&d(1).to_string()).unwrap(),
        Target::Digest(d(1))
    );
    assert_eq!(Target::parse("1.4.1").unwrap(), Target::Tag("1.4.1".into()));
    for bad in ["0", "99", "sha256:nope", "bad tag!"] {
        let e = Target::parse(bad).unwrap_err();
        assert!(e.message.starts_with("--to `"), "{bad}: {}", e.message);
        assert!(
            e.hint.as_deref().unwrap().contains("--to previous"),
            "{bad}"
        );
    }
}

#[test]
fn head_refuses_a_rollback_of_a_rollback_and_a_third_party_move() {
    let tag = "prod";
    assert_eq!(head(tag, None, &d(1)).unwrap(), Head::NoHistory);
    let promoted = record(Kind::Promotion, 2, Some(1), "t2");
    assert_eq!(
        head(tag, Some(promoted.clone()), &d(2)).unwrap(),
        Head::Recorded(promoted.clone())
    );
    // The record was written but its promotion failed: the tag still holds the previous digest.
    assert_eq!(
        head(tag, Some(promoted.clone()), &d(1)).unwrap(),
        Head::Unfinished(promoted)
    );
    let e = head(tag, Some(record(Kind::Rollback, 1, Some(2), "t3")), &d(1)).unwrap_err();
    assert_eq!(e.kind, crate::error::ErrorKind::Refused);
    assert!(
        e.message.contains("rollback of a rollback"),
        "{}",
        e.message
    );
    let e = head(tag, Some(record(Kind::Promotion, 2, Some(1), "t2")), &d(9)).unwrap_err();
    assert!(
        e.message.contains("moved outside image-promote"),
        "{}",
        e.message
    );
    assert!(e.hint.unwrap().contains("--to DIGEST"));
}

#[test]
fn the_record_of_a_digest_is_the_newest_one_before_the_later_step() {
    let records = vec![
        record(Kind::Promotion, 1, Some(0), "2026-12-02T03:00:00Z"),
        record(Kind::Promotion, 1, Some(5), "2026-12-02T01:00:00Z"),
    ];
    let found = record_before(&records, &d(1), Some("2026-12-02T02:00:00Z")).unwrap();
    assert_eq!(found.previous_digest, Some(d(5)));
    assert_eq!(
        record_before(&records, &d(1), None)
            .unwrap()
            .previous_digest,
        Some(d(0))
    );
    assert!(record_before(&records, &d(1), Some("2026-12-02T01:00:00Z")).is_none());
    assert!(
        record_before(&records, &d(2), None).is_none(),
        "another digest"
    );
}

#[test]
fn held_digests_and_earlier_ones_come_from_the_lineage() {
    // Now 3 (promoted over 1), earlier: 1 was put back over 2 by a rollback, 2 over 1, 1 first.
    let lineage = Lineage {
        steps: vec![
            step(3, Kind::Promotion, Some(1)),
            step(1, Kind::Rollback, Some(2)),
            step(2, Kind::Promotion, Some(1)),
            step(1, Kind::Promotion, None),
        ],
    };
    assert_eq!(lineage.held(), BTreeSet::from([d(2)]));
    let earlier: Vec<_> = lineage.earlier().iter().map(|s| s.digest.clone()).collect();
    assert_eq!(earlier, vec![d(1), d(2)], "each once, newest first");
}

fn lineage_3_2_1() -> Lineage {
    Lineage {
        steps: vec![
            step(3, Kind::Promotion, Some(2)),
            step(2, Kind::Promotion, Some(1)),
            step(1, Kind::Promotion, None),
        ],
    }
}

#[test]
fn previous_takes_the_newest_good_predecessor_and_says_why_others_were_skipped() {
    let (chosen, facts) =
        block_on(choose(
            &lineage_3_2_1(),
            &d(3),
            &Target::Previous,
            None,
            |digest| async move {
                Ok((digest == d(2)).then(|| "fails today's policy: labels".to_owned()))
            },
        ))
        .unwrap();
    assert_eq!(chosen, d(1));
    assert_eq!(facts.len(), 2);
    assert!(!facts[0].taken && facts[0].why.contains("policy"));
    assert!(facts[1].taken && facts[1].why.contains("newest good"));
}

#[test]
fn candidates_after_the_taken_one_are_not_weighed() {
    let mut asked = Vec::new();
    let (chosen, facts) = block_on(choose(
        &lineage_3_2_1(),
        &d(3),
        &Target::Previous,
        None,
        |digest| {
            asked.push(digest);
            async { Ok(None) }
        },
    ))
    .unwrap();
    assert_eq!(chosen, d(2));
    assert_eq!(asked, vec![d(2)], "only the first good one is asked");
    assert!(facts[1].why.contains("not weighed"));
}

#[test]
fn a_held_digest_is_skipped_without_asking() {
    let lineage = Lineage {
        steps: vec![
            step(1, Kind::Promotion, Some(3)),
            step(3, Kind::Promotion, Some(1)),
            step(1, Kind::Rollback, Some(2)),
            step(2, Kind::Promotion, Some(1)),
            step(1, Kind::Promotion, None),
        ],
    };
    let e = block_on(choose(&lineage, &d(1), &Target::Previous, None, |digest| {
        assert_ne!(digest, d(2), "a held digest is not judged");
        async { Ok(Some("gone".to_owned())) }
    }))
    .unwrap_err();
    assert!(e.message.contains("held"), "{}", e.message);
    assert!(e.message.contains("gone"), "{}", e.message);
    assert!(e.hint.unwrap().contains("--to DIGEST"));
}

#[test]
fn back_n_and_explicit_targets_refuse_instead_of_skipping() {
    let (chosen, facts) = block_on(choose(
        &lineage_3_2_1(),
        &d(3),
        &Target::Back(2),
        None,
        |_| async { Ok(None) },
    ))
    .unwrap();
    assert_eq!(chosen, d(1));
    assert!(facts[0].why.contains("passed over"));
    let e = block_on(choose(
        &lineage_3_2_1(),
        &d(3),
        &Target::Back(3),
        None,
        |_| async { Ok(None) },
    ))
    .unwrap_err();
    assert!(e.message.contains("2 earlier digest(s)"), "{}", e.message);
    let e = block_on(choose(
        &lineage_3_2_1(),
        &d(3),
        &Target::Back(1),
        None,
        |_| async { Ok(Some("no longer in the repository".to_owned())) },
    ))
    .unwrap_err();
    assert!(e.message.contains("no longer in the repository"));
    let (chosen, facts) = block_on(choose(
        &Lineage::default(),
        &d(3),
        &Target::Digest(d(7)),
        Some(d(7)),
        |_| async { Ok(None) },
    ))
    .unwrap();
    assert_eq!(chosen, d(7));
    assert_eq!(facts[0].origin, CandidateOrigin::Explicit);
    let e = block_on(choose(
        &lineage_3_2_1(),
        &d(3),
        &Target::Digest(d(3)),
        Some(d(3)),
        |_| async { Ok(None) },
    ))
    .unwrap_err();
    assert!(e.message.contains("holds now"), "{}", e.message);
}

#[test]
fn no_history_means_no_candidate_and_names_to() {
    let lineage = Lineage {
        steps: vec![step(3, Kind::Promotion, None)],
    };
    let e = block_on(choose(
        &lineage,
        &d(3),
        &Target::Previous,
        None,
        |_| async { Ok(None) },
    ))
    .unwrap_err();
    assert!(e.message.contains("no earlier digest"), "{}", e.message);
    assert!(e.hint.unwrap().contains("--to"));
}
