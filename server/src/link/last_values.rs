//! Each client's last value per sensor, for the console's `L`: a sorted vector sized to its
//! sensors. A `BTreeMap` cost a 544-byte node per client even with one sensor; a client has at
//! most `--max-sensors-per-client` sensors and new ones are rare, so a search and an exact
//! reservation per new sensor cost nothing on the reading path.

/// (sensor id, value as the client sent it), sorted by sensor id.
#[derive(Debug, Default)]
pub struct LastValues(Vec<(String, String)>);

impl LastValues {
    /// Takes the newest values: each replaces its sensor's, a new sensor is added in order.
    pub fn extend(&mut self, values: Vec<(String, String)>) {
        for (sensor, value) in values {
            match self.0.binary_search_by(|(s, _)| s.as_str().cmp(&sensor)) {
                Ok(at) => self.0[at].1 = value,
                Err(at) => {
                    self.0.reserve_exact(1);
                    self.0.insert(at, (sensor, value));
                }
            }
        }
    }

    /// (sensor, value) in sensor order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(s, v)| (s, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_value_per_sensor_in_sensor_order_and_no_spare_room() {
        let mut v = LastValues::default();
        let pair = |s: &str, x: &str| (s.to_owned(), x.to_owned());
        v.extend(vec![pair("b", "1"), pair("a", "2")]);
        v.extend(vec![pair("b", "3")]);
        let seen: Vec<(&String, &String)> = v.iter().collect();
        assert_eq!(seen, [(&"a".to_owned(), &"2".to_owned()), (&"b".to_owned(), &"3".to_owned())]);
        assert_eq!(v.0.capacity(), 2);
    }
}
