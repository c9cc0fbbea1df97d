use super::*;

#[test]
fn object_ids_carry_their_minting_time() {
    let at = object_id_time("6646f0a928dc5c20307cf5b1").map(format_utc_ms);
    assert_eq!(at.as_deref(), Some("2024-05-17T05:52:41.000Z"));
    assert_eq!(object_id_time("not-an-object-id-at-all!"), None);
    assert_eq!(object_id_time("6646f0a9"), None);
}

#[test]
fn kinds_become_exclude_flags_or_no_call() {
    let with = |kinds: Option<Vec<HistoryKind>>| {
        KindFlags::of(&HistoryFilter {
            kinds,
            ..HistoryFilter::default()
        })
    };
    assert_eq!(with(None), Some(KindFlags::All));
    assert_eq!(
        with(Some(vec![HistoryKind::Comment])),
        Some(KindFlags::CommentsOnly)
    );
    assert_eq!(
        with(Some(vec![HistoryKind::Action, HistoryKind::Audit])),
        Some(KindFlags::ActionsOnly)
    );
    assert_eq!(
        with(Some(vec![HistoryKind::Comment, HistoryKind::Action])),
        Some(KindFlags::All)
    );
    assert_eq!(with(Some(vec![HistoryKind::Audit])), None);
}
