//! "Did you mean": the closest of a set of names to a misspelt one, for config keys and for
//! GraphQL fields, arguments and enum values alike.

/// The name `key` most likely misspells: at most a third of its length in edits away (at least
/// one edit), or one that starts with it or that it starts with (`timeout` → `timeout_ms`).
pub fn closest<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (key.chars().count() / 3).max(1);
    let prefix = |name: &str| key.len() >= 4 && (name.starts_with(key) || key.starts_with(name));
    names
        .into_iter()
        .map(|name| (edit_distance(key, name), name))
        .filter(|(distance, name)| *distance <= allowed || prefix(name))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two neighbouring
/// characters (optimal string alignment): `nmae` is one edit from `name`, as a person sees it.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_neighbours_are_one_edit() {
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("frist", "first"), 1);
        assert_eq!(edit_distance("max_dept", "max_depth"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("nmae", ["id", "name", "source"]), Some("name"));
        assert_eq!(closest("frist", ["first", "after", "last"]), Some("first"));
        assert_eq!(closest("zzzz", ["first", "after"]), None);
    }
}
