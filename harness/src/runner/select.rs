//! Which trials the filter arguments choose: cargo test's rules on trial
//! names (`BOARD::capability::name`), plus catalogue ids (`AU-07`).
//!
//! A trial is chosen when any filter matches it (none given: every trial):
//! a filter matches a trial name as a substring, or whole with `--exact`,
//! exactly as libtest does; and it matches a trial whose check has that
//! catalogue id, whole and case-insensitively (`au-07` is `AU-07`, `AU-0`
//! is no id). `--skip` removes trials the same two ways. Several filters
//! let one run pick a different check on every board of a rack.

/// The selection the command line asked for.
#[derive(Debug, Clone)]
pub struct Selection {
    filters: Vec<String>,
    skip: Vec<String>,
    /// libtest's view of everything but the filters and skips: `--exact`
    /// and `--ignored` (only NOT_APPLICABLE trials).
    by_name: libtest_mimic::Arguments,
}

impl Selection {
    /// From libtest's arguments and every FILTER given; `filters` empty
    /// means the one in `args` (if any).
    pub fn new(args: &libtest_mimic::Arguments, filters: &[String]) -> Self {
        let filters = if filters.is_empty() {
            args.filter.iter().cloned().collect()
        } else {
            filters.to_vec()
        };
        Self {
            filters,
            skip: args.skip.clone(),
            by_name: libtest_mimic::Arguments {
                filter: None,
                skip: Vec::new(),
                ..args.clone()
            },
        }
    }

    /// Whether the trial `name` of the check catalogued as `catalogue_id`
    /// is chosen; `not_applicable` trials are libtest's ignored ones.
    pub fn selects(&self, name: &str, catalogue_id: &str, not_applicable: bool) -> bool {
        let stub = libtest_mimic::Trial::test(name, || Ok(())).with_ignored_flag(not_applicable);
        // libtest's own test of one name pattern, so names select exactly
        // as with cargo test.
        let name_matches = |filter: Option<&String>, skip: Vec<String>| {
            let args = libtest_mimic::Arguments {
                filter: filter.cloned(),
                skip,
                ..self.by_name.clone()
            };
            !args.is_filtered_out(&stub)
        };
        let is_id = |pattern: &String| pattern.eq_ignore_ascii_case(catalogue_id);
        // `--ignored` alone: only NOT_APPLICABLE trials.
        let eligible = name_matches(None, Vec::new());
        let chosen = self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| is_id(f) || name_matches(Some(f), Vec::new()));
        let skipped = self.skip.iter().any(is_id) || !name_matches(None, self.skip.clone());
        eligible && chosen && !skipped
    }

    /// The filters that match none of `trials` (trial name, catalogue id)
    /// by name or catalogue id, before `--skip` and `--ignored`: a typo
    /// such as `AU-99` would otherwise select nothing and pass silently.
    pub fn unmatched(&self, trials: &[(&str, &str)]) -> Vec<&str> {
        self.filters
            .iter()
            .filter(|filter| {
                !trials.iter().any(|(name, catalogue_id)| {
                    let stub = libtest_mimic::Trial::test(*name, || Ok(()));
                    let args = libtest_mimic::Arguments {
                        filter: Some((*filter).clone()),
                        exact: self.by_name.exact,
                        ..Default::default()
                    };
                    filter.eq_ignore_ascii_case(catalogue_id) || !args.is_filtered_out(&stub)
                })
            })
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn selection(args: &[&str], filters: &[&str]) -> Selection {
        let mut all = vec!["hilt"];
        all.extend(args);
        let args = libtest_mimic::Arguments::from_iter(all);
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        Selection::new(&args, &filters)
    }

    const NAME: &str = "sim-0::logical_access::serial_brute_force";

    #[test]
    fn a_catalogue_id_selects_whole_and_in_any_case() {
        assert!(selection(&[], &["AU-07"]).selects(NAME, "AU-07", false));
        assert!(selection(&[], &["au-07"]).selects(NAME, "AU-07", false));
        assert!(!selection(&[], &["AU-0"]).selects(NAME, "AU-07", false));
        assert!(!selection(&[], &["AU-08"]).selects(NAME, "AU-07", false));
        // --exact asks for whole names; an id is always whole.
        assert!(selection(&["--exact"], &["AU-07"]).selects(NAME, "AU-07", false));
    }

    #[test]
    fn names_select_as_cargo_test_and_any_filter_chooses() {
        assert!(selection(&[], &[]).selects(NAME, "AU-07", false));
        assert!(selection(&[], &["brute"]).selects(NAME, "AU-07", false));
        assert!(!selection(&["--exact"], &["brute"]).selects(NAME, "AU-07", false));
        assert!(selection(&[], &["DP-01", "brute"]).selects(NAME, "AU-07", false));
        assert!(!selection(&[], &["DP-01", "tls"]).selects(NAME, "AU-07", false));
    }

    #[test]
    fn skip_removes_by_name_or_catalogue_id() {
        assert!(!selection(&["--skip", "au-07"], &[]).selects(NAME, "AU-07", false));
        assert!(!selection(&["--skip", "sim-0"], &["AU-07"]).selects(NAME, "AU-07", false));
        assert!(selection(&["--skip", "AU-0"], &[]).selects(NAME, "AU-07", false));
    }

    #[test]
    fn a_filter_that_matches_no_trial_is_named() {
        let trials = [
            (NAME, "AU-07"),
            ("rack::device_identification::distinct_identifiers", "ID-03"),
        ];
        let unmatched = |args: &[&str], filters: &[&str]| -> Vec<String> {
            let selection = selection(args, filters);
            selection
                .unmatched(&trials)
                .into_iter()
                .map(String::from)
                .collect()
        };
        assert!(unmatched(&[], &[]).is_empty());
        assert!(unmatched(&[], &["au-07", "brute", "sim-0", "ID-03"]).is_empty());
        assert_eq!(unmatched(&[], &["AU-07", "AU-99"]), ["AU-99"]);
        assert_eq!(unmatched(&["--exact"], &["brute", "AU-07"]), ["brute"]);
        // --skip and --ignored narrow a selection; they do not unmatch a filter.
        assert!(unmatched(&["--skip", "AU-07", "--ignored"], &["AU-07"]).is_empty());
    }

    #[test]
    fn ignored_keeps_only_not_applicable_trials() {
        assert!(!selection(&["--ignored"], &["AU-07"]).selects(NAME, "AU-07", false));
        assert!(selection(&["--ignored"], &["AU-07"]).selects(NAME, "AU-07", true));
    }
}
