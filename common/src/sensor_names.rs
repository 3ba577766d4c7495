//! A sensor as people give it to `query --sensor` or the API's `sensor=`: its id, or the name the
//! config file's `[sensors]` gives it. What the config says is settled here; whether the store knows
//! an id is the caller's question (it has the store), asked only when a query found nothing.

use crate::sensors::Settings;
use std::fmt;

/// At most this many names or ids are listed in a message.
const LISTED: usize = 20;

/// What a given sensor is, as far as the config file knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// An id with a `[sensors."ID"]` table of its own: it exists, readings or not.
    Configured(String),
    /// A name: the ids of the tables that carry it (one or more, sorted).
    Named(Vec<String>),
    /// Neither: perhaps an id the store knows.
    Other(String),
}

/// What `text` names in `settings`. An id with a table of its own wins over a name, so an id
/// always means itself.
pub fn given(settings: &Settings, text: &str) -> Given {
    if settings.configured_sensors().any(|(id, _)| id == text) {
        return Given::Configured(text.to_owned());
    }
    let ids: Vec<String> = settings
        .configured_sensors()
        .filter(|(_, s)| s.name.as_deref() == Some(text))
        .map(|(id, _)| id.to_owned())
        .collect();
    if ids.is_empty() {
        Given::Other(text.to_owned())
    } else {
        Given::Named(ids)
    }
}

/// The names `[sensors]` gives, sorted, each once.
pub fn names(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = settings.configured_sensors().filter_map(|(_, s)| s.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// Of the ids a name stands for, those `seen` (the store's sensors, as (client id, sensor id)) has
/// on node `cid` (any node without one). Used when a name is on several sensors.
pub fn narrow(ids: &[String], seen: &[(String, String)], cid: Option<&str>) -> Vec<String> {
    ids.iter()
        .filter(|id| seen.iter().any(|(c, s)| s == *id && cid.is_none_or(|cid| c == cid)))
        .cloned()
        .collect()
}

/// The sensor id a given text stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The id (for a name, the id in service of its series).
    pub id: String,
    /// The ids whose readings answer, oldest first: for a name, every id of its series (`replaces`
    /// chains: [`Settings::series_members`]), each up to the next one's first reading; for an id,
    /// that id alone (an id always means itself).
    pub members: Vec<String>,
    /// Known to exist (a table in the config, or the store has it); otherwise, should a query find
    /// nothing, [`check_known`] tells an unknown sensor from one without readings.
    pub known: bool,
}

/// Whether every id in `ids` is of one `replaces` series (one id always is).
fn in_one_series(settings: &Settings, ids: &[String]) -> bool {
    ids.iter().all(|id| settings.series_of(id) == settings.series_of(&ids[0]))
}

/// A name's series: the one `id` is of.
fn series(settings: &Settings, id: &str) -> Resolved {
    Resolved { id: settings.current_of(id).to_owned(), members: settings.series_members(id), known: true }
}

/// Why a lookup failed: the sensor, or the store asked about it.
#[derive(Debug)]
pub enum LookupError<E> {
    /// What was given names no sensor, or several.
    Sensor(SensorError),
    /// The store's sensors could not be read.
    Store(E),
}

/// The store's sensors as (client id, sensor id), asked only when needed.
pub type Seen<'a, E> = dyn FnMut() -> Result<Vec<(String, String)>, E> + 'a;

/// The id `text` stands for on node `cid` (any node without one): a configured id, the one sensor
/// with that name (of several, the one `seen` has on the node), or else `text` as an id. `seen` is
/// called only for a name on several sensors, or to list a node's sensors in an error.
pub fn resolve<E>(
    settings: &Settings,
    text: &str,
    cid: Option<&str>,
    seen: &mut Seen<'_, E>,
) -> Result<Resolved, LookupError<E>> {
    match given(settings, text) {
        Given::Configured(id) => Ok(Resolved { members: vec![id.clone()], id, known: true }),
        Given::Named(ids) if in_one_series(settings, &ids) => Ok(series(settings, &ids[0])),
        Given::Named(ids) => {
            let on_node = narrow(&ids, &seen().map_err(LookupError::Store)?, cid);
            match on_node.as_slice() {
                [one] => Ok(series(settings, one)),
                [] => Err(LookupError::Sensor(SensorError::Ambiguous { name: text.to_owned(), ids })),
                _ => Err(LookupError::Sensor(SensorError::Ambiguous { name: text.to_owned(), ids: on_node })),
            }
        }
        Given::Other(id) => match cliser_protocol::SensorId::new(&id) {
            Ok(_) => Ok(Resolved { members: vec![id.clone()], id, known: false }),
            Err(e) => Err(unknown(settings, text, cid, Some(e.to_string()), seen)),
        },
    }
}

/// A query for `r` (from [`resolve`]) found nothing: fine when the sensor exists (in the config,
/// or the store has it on any node: `--cid beta --sensor s2` is an empty answer, not an error),
/// else the error naming the known names (and node `cid`'s sensors).
pub fn check_known<E>(
    settings: &Settings,
    text: &str,
    r: &Resolved,
    cid: Option<&str>,
    seen: &mut Seen<'_, E>,
) -> Result<(), LookupError<E>> {
    if r.known {
        return Ok(());
    }
    let sensors = seen().map_err(LookupError::Store)?;
    if sensors.iter().any(|(_, s)| *s == r.id) {
        return Ok(());
    }
    Err(unknown(settings, text, cid, None, &mut || Ok(sensors.clone())))
}

fn unknown<E>(
    settings: &Settings,
    text: &str,
    cid: Option<&str>,
    not_an_id: Option<String>,
    seen: &mut Seen<'_, E>,
) -> LookupError<E> {
    let node_ids = match cid {
        Some(cid) => match seen() {
            Ok(all) => all.into_iter().filter(|(c, _)| c == cid).map(|(_, s)| s).collect(),
            Err(e) => return LookupError::Store(e),
        },
        None => Vec::new(),
    };
    LookupError::Sensor(SensorError::Unknown {
        given: text.to_owned(),
        cid: cid.map(str::to_owned),
        not_an_id,
        names: names(settings),
        node_ids,
    })
}

/// Why a given sensor cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorError {
    /// Neither an id the config or the store knows nor a name.
    Unknown {
        /// What was given.
        given: String,
        /// The node asked about, if one was.
        cid: Option<String>,
        /// Why `given` cannot even be an id, when it cannot.
        not_an_id: Option<String>,
        /// The names `[sensors]` gives.
        names: Vec<String>,
        /// The ids the store has for node `cid` (empty without one).
        node_ids: Vec<String>,
    },
    /// A name on several sensors, none singled out by the node asked about.
    Ambiguous {
        /// The name.
        name: String,
        /// The ids that carry it.
        ids: Vec<String>,
    },
}

impl SensorError {
    /// Whether what was given cannot be an id at all (a malformed request, not a missing sensor).
    pub fn is_malformed(&self) -> bool {
        matches!(self, SensorError::Unknown { not_an_id: Some(_), .. })
    }
}

/// `a, b, c` (at most [`LISTED`], then how many more).
fn list(items: &[String]) -> String {
    let mut text = items.iter().take(LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    text
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorError::Unknown { given, cid, not_an_id, names, node_ids } => {
                write!(f, "no sensor {given:?}")?;
                if let Some(cid) = cid {
                    write!(f, " on node {cid}")?;
                }
                f.write_str(": neither a sensor id")?;
                if let Some(why) = not_an_id {
                    write!(f, " ({why})")?;
                }
                f.write_str(" nor a name in the config's [sensors]")?;
                if names.is_empty() {
                    f.write_str("; no sensor has a name there")?;
                } else {
                    write!(f, "; the names: {}", list(names))?;
                }
                match (cid, node_ids.is_empty()) {
                    (Some(cid), false) => write!(f, "; node {cid}'s sensors: {}", list(node_ids)),
                    (Some(cid), true) => write!(f, "; the store has no sensor of node {cid}"),
                    (None, _) => Ok(()),
                }
            }
            SensorError::Ambiguous { name, ids } => write!(
                f,
                "{name:?} is the name of {} sensors ({}): give one of their ids, or the node",
                ids.len(),
                list(ids)
            ),
        }
    }
}

impl std::error::Error for SensorError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        Settings::from_toml(&text.parse().unwrap()).unwrap()
    }

    #[test]
    fn an_id_with_a_table_wins_then_a_name_then_anything_else() {
        let s = settings(
            "[sensors.\"28-a\"]\nname = \"fridge\"\n[sensors.\"28-b\"]\nname = \"28-a\"\n\
             [sensors.\"28-c\"]\nname = \"fridge\"\n[sensors.\"28-d\"]\nmax = 5.0\n",
        );
        assert_eq!(given(&s, "28-a"), Given::Configured("28-a".into()));
        assert_eq!(given(&s, "28-d"), Given::Configured("28-d".into()));
        assert_eq!(given(&s, "fridge"), Given::Named(vec!["28-a".into(), "28-c".into()]));
        assert_eq!(given(&s, "28-e"), Given::Other("28-e".into()));
        assert_eq!(given(&s, "Fridge"), Given::Other("Fridge".into()), "names are exact");
        assert_eq!(names(&s), ["28-a", "fridge"]);
    }

    #[test]
    fn a_shared_name_narrows_to_the_nodes_sensors() {
        let ids = vec!["28-a".to_owned(), "28-c".to_owned()];
        let seen = vec![("kitchen".to_owned(), "28-a".to_owned()), ("garage".to_owned(), "28-c".to_owned())];
        assert_eq!(narrow(&ids, &seen, Some("garage")), ["28-c"]);
        assert_eq!(narrow(&ids, &seen, None), ids);
        assert!(narrow(&ids, &seen, Some("attic")).is_empty());
    }

    fn seen() -> Vec<(String, String)> {
        vec![
            ("kitchen".into(), "28-a".into()),
            ("garage".into(), "28-c".into()),
            ("garage".into(), "28-z".into()),
        ]
    }

    fn sensor_error(e: LookupError<()>) -> SensorError {
        match e {
            LookupError::Sensor(e) => e,
            LookupError::Store(()) => panic!("the store"),
        }
    }

    #[test]
    fn resolves_ids_and_names_and_asks_the_store_only_when_it_must() {
        let s = settings("[sensors.\"28-a\"]\nname = \"fridge\"\n[sensors.\"28-c\"]\nname = \"fridge\"\n[sensors.\"28-d\"]\nname = \"attic\"\n");
        let asked = std::cell::Cell::new(0);
        let mut store = || -> Result<_, ()> {
            asked.set(asked.get() + 1);
            Ok(seen())
        };
        let r = resolve(&s, "attic", None, &mut store).unwrap();
        assert_eq!(r, Resolved { id: "28-d".into(), members: vec!["28-d".into()], known: true });
        let r = resolve(&s, "28-z", Some("garage"), &mut store).unwrap();
        assert_eq!(r, Resolved { id: "28-z".into(), members: vec!["28-z".into()], known: false });
        assert_eq!(check_known(&s, "28-z", &r, Some("garage"), &mut store).map_err(sensor_error), Ok(()));
        assert_eq!(asked.get(), 1, "only to check an id the config does not know");
        let r = resolve(&s, "fridge", Some("garage"), &mut store).unwrap();
        assert_eq!(r, Resolved { id: "28-c".into(), members: vec!["28-c".into()], known: true });
        let two = sensor_error(resolve(&s, "fridge", None, &mut store).unwrap_err());
        assert!(matches!(two, SensorError::Ambiguous { ref ids, .. } if ids.len() == 2), "{two}");

        let r = resolve(&s, "28-q", Some("garage"), &mut store).unwrap();
        let e = sensor_error(check_known(&s, "28-q", &r, Some("garage"), &mut store).unwrap_err());
        assert!(
            e.to_string().ends_with("the names: attic, fridge; node garage's sensors: 28-c, 28-z"),
            "{e}"
        );
        let r = resolve(&s, "28-z", Some("kitchen"), &mut store).unwrap();
        assert_eq!(check_known(&s, "28-z", &r, Some("kitchen"), &mut store).map_err(sensor_error), Ok(()));
        let e = sensor_error(resolve(&s, "the fridge", None, &mut store).unwrap_err());
        assert!(e.is_malformed(), "{e}");
        assert!(matches!(resolve(&s, "fridge", None, &mut || Err(())), Err(LookupError::Store(()))));
    }

    #[test]
    fn the_messages_name_what_is_known() {
        let unknown = SensorError::Unknown {
            given: "fridg".into(),
            cid: Some("garage".into()),
            not_an_id: None,
            names: vec!["freezer".into(), "fridge".into()],
            node_ids: vec!["28-a".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "no sensor \"fridg\" on node garage: neither a sensor id nor a name in the config's [sensors]; \
             the names: freezer, fridge; node garage's sensors: 28-a"
        );
        assert!(!unknown.is_malformed());
        let bare = SensorError::Unknown {
            given: "a b".into(),
            cid: None,
            not_an_id: Some("bad character".into()),
            names: vec![],
            node_ids: vec![],
        };
        assert!(bare
            .to_string()
            .ends_with("(bad character) nor a name in the config's [sensors]; no sensor has a name there"));
        assert!(bare.is_malformed());
        let many: Vec<String> = (0..25).map(|i| format!("n{i:02}")).collect();
        assert!(list(&many).ends_with("n19 and 5 more"));
        let two = SensorError::Ambiguous { name: "fridge".into(), ids: vec!["28-a".into(), "28-c".into()] };
        assert_eq!(
            two.to_string(),
            "\"fridge\" is the name of 2 sensors (28-a, 28-c): give one of their ids, or the node"
        );
    }

    #[test]
    fn a_name_stands_for_its_whole_series_and_an_id_for_itself() {
        let s = settings(
            "[sensors.\"28-old\"]\nname = \"freezer\"\n[sensors.\"28-new\"]\nreplaces = \"28-old\"\n\
             name = \"freezer\"\n[sensors.\"28-b\"]\nreplaces = \"28-a\"\nname = \"attic\"\n",
        );
        let mut store = || -> Result<_, ()> { panic!("a series is the config's to say") };
        let both = vec!["28-old".to_owned(), "28-new".to_owned()];
        let r = resolve(&s, "freezer", None, &mut store).unwrap();
        assert_eq!(r, Resolved { id: "28-new".into(), members: both, known: true });
        let r = resolve(&s, "attic", None, &mut store).unwrap();
        assert_eq!(r.members, ["28-a", "28-b"], "the old id needs no table, nor the name");
        let r = resolve(&s, "28-old", None, &mut store).unwrap();
        assert_eq!(r.members, ["28-old"]);
    }
}
