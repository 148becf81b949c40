//! The resources exporters publish, as hilt reads them: a flat view of the
//! protobuf message, and the few classes hilt uses.

use std::collections::BTreeMap;

use crate::proto;

/// One value of a resource's parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum MapValue {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
}

impl MapValue {
    fn from_proto(value: &proto::MapValue) -> Option<Self> {
        use proto::map_value::Kind;
        Some(match value.kind.as_ref()? {
            Kind::BoolValue(v) => Self::Bool(*v),
            Kind::IntValue(v) => Self::Int(*v),
            Kind::UintValue(v) => Self::Uint(*v),
            Kind::FloatValue(v) => Self::Float(*v),
            Kind::StringValue(v) => Self::String(v.clone()),
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer parameter, also when an exporter wrote it as a string
    /// (labgrid's `index` of a power port is one).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Int(v) => u64::try_from(*v).ok(),
            Self::Uint(v) => Some(*v),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A resource as the coordinator describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub exporter: String,
    pub group: String,
    pub name: String,
    /// The class as exported (`NetworkSerialPort`, `NetworkService`, ...).
    pub class: String,
    pub params: BTreeMap<String, MapValue>,
    /// The place that holds it, if any.
    pub acquired: Option<String>,
    pub available: bool,
}

impl Resource {
    pub(crate) fn from_proto(resource: &proto::Resource) -> Option<Self> {
        let path = resource.path.as_ref()?;
        Some(Self {
            exporter: path.exporter_name.clone().unwrap_or_default(),
            group: path.group_name.clone(),
            name: path.resource_name.clone(),
            class: resource.cls.clone(),
            params: resource
                .params
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), MapValue::from_proto(v)?)))
                .collect(),
            acquired: Some(resource.acquired.clone()).filter(|a| !a.is_empty()),
            available: resource.avail,
        })
    }

    /// `exporter/group/class/name`, as a place lists what it holds.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.exporter, self.group, self.class, self.name
        )
    }

    fn text(&self, key: &str) -> Result<String, String> {
        self.params
            .get(key)
            .and_then(MapValue::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{} {}: no text parameter `{key}`", self.class, self.path()))
    }

    fn number(&self, key: &str) -> Result<u64, String> {
        self.params
            .get(key)
            .and_then(MapValue::as_u64)
            .ok_or_else(|| {
                format!(
                    "{} {}: no number parameter `{key}`",
                    self.class,
                    self.path()
                )
            })
    }

    /// A `NetworkSerialPort` (what an exporter publishes for a serial port
    /// it serves through ser2net).
    pub fn network_serial(&self) -> Result<NetworkSerial, String> {
        let port = self.number("port")?;
        Ok(NetworkSerial {
            host: self.text("host")?,
            port: u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{}: port {port} is out of range", self.path()))?,
            speed: match self.params.get("speed") {
                Some(v) => v
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(|| format!("{}: speed {v:?} is not a baud rate", self.path()))?,
                None => 115_200,
            },
            // labgrid's default when the exporter names none.
            protocol: self.text("protocol").unwrap_or_else(|_| "rfc2217".into()),
        })
    }

    /// The address of a `NetworkService` (labgrid's resource for a board
    /// reachable over the network).
    pub fn network_address(&self) -> Result<String, String> {
        self.text("address")
    }

    /// A `NetworkPowerPort`: a power switch on the network that labgrid's
    /// client drives with the driver named by `model`.
    pub fn network_power(&self) -> Result<NetworkPower, String> {
        Ok(NetworkPower {
            model: self.text("model")?,
            host: self.text("host")?,
            index: self.number("index")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSerial {
    pub host: String,
    pub port: u16,
    pub speed: u32,
    /// `rfc2217` or `raw`.
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPower {
    pub model: String,
    pub host: String,
    pub index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(kind: proto::map_value::Kind) -> proto::MapValue {
        proto::MapValue { kind: Some(kind) }
    }

    #[test]
    fn a_serial_port_reads_from_its_parameters() {
        use proto::map_value::Kind;
        let resource = proto::Resource {
            path: Some(proto::resource::Path {
                exporter_name: Some("rack1".into()),
                group_name: "sim-0".into(),
                resource_name: "NetworkSerialPort".into(),
            }),
            cls: "NetworkSerialPort".into(),
            params: [
                (
                    "host".to_string(),
                    value(Kind::StringValue("198.19.70.2".into())),
                ),
                ("port".to_string(), value(Kind::IntValue(40123))),
                ("speed".to_string(), value(Kind::IntValue(115200))),
            ]
            .into_iter()
            .collect(),
            extra: Default::default(),
            acquired: String::new(),
            avail: true,
        };
        let resource = Resource::from_proto(&resource).expect("has a path");
        assert_eq!(
            resource.path(),
            "rack1/sim-0/NetworkSerialPort/NetworkSerialPort"
        );
        assert_eq!(resource.acquired, None);
        let serial = resource.network_serial().expect("a serial port");
        assert_eq!(serial.port, 40123);
        assert_eq!(serial.protocol, "rfc2217");
        assert!(resource.network_power().is_err());
    }

    #[test]
    fn a_port_out_of_range_is_refused() {
        let mut resource = Resource {
            exporter: "e".into(),
            group: "g".into(),
            name: "n".into(),
            class: "NetworkSerialPort".into(),
            params: BTreeMap::new(),
            acquired: None,
            available: true,
        };
        resource
            .params
            .insert("host".into(), MapValue::String("h".into()));
        resource.params.insert("port".into(), MapValue::Int(70000));
        let err = resource.network_serial().expect_err("70000 is no port");
        assert!(err.contains("out of range"), "{err}");
        resource.params.insert("port".into(), MapValue::Int(-1));
        assert!(resource.network_serial().is_err());
    }
}
