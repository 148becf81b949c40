//! One session with a coordinator: the client stream (startup first, then
//! the resources it publishes) and the unary calls made on the same
//! channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tonic::transport::{Channel, Endpoint};

use crate::proto::coordinator_client::CoordinatorClient;
use crate::proto::{self, client_in_message, subscribe, update_response, ClientInMessage};
use crate::resources::Resource;
use crate::{reservation_state_name, LabgridError};

/// The version hilt announces in its startup message.
const CLIENT_VERSION: &str = concat!("hilt ", env!("CARGO_PKG_VERSION"));
/// How often a waiting reservation is polled (labgrid-client polls every
/// second too; an unpolled reservation lapses after about 60 s).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The most resources kept from one coordinator: a lab has hundreds, a
/// misbehaving coordinator must not grow this without bound.
const MAX_RESOURCES: usize = 100_000;

/// A place as the coordinator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// The `host/user` name that holds it.
    pub acquired: Option<String>,
    /// `exporter/group/class/name` of each resource it holds.
    pub acquired_resources: Vec<String>,
    pub reservation: Option<String>,
}

impl From<proto::Place> for Place {
    fn from(p: proto::Place) -> Self {
        Self {
            name: p.name,
            tags: p.tags.into_iter().collect(),
            acquired: p.acquired.filter(|a| !a.is_empty()),
            acquired_resources: p.acquired_resources,
            reservation: p.reservation.filter(|r| !r.is_empty()),
        }
    }
}

/// A place this client holds, and the reservation it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub place: String,
    pub reservation: Option<String>,
}

/// What the client stream has delivered so far.
#[derive(Debug, Default, Clone)]
struct StreamState {
    /// The highest sync id echoed back: every update queued before it has arrived.
    synced: u64,
    /// Why the stream ended, once it has.
    ended: Option<String>,
}

pub struct Client {
    runtime: tokio::runtime::Runtime,
    grpc: CoordinatorClient<Channel>,
    coordinator: String,
    name: String,
    timeout: Duration,
    outgoing: mpsc::Sender<ClientInMessage>,
    stream: watch::Receiver<StreamState>,
    resources: Arc<Mutex<HashMap<String, Resource>>>,
    next_sync: u64,
}

impl Client {
    /// Connects to `coordinator` (`host:port`) and opens a session named
    /// `name` (`host/user`), subscribed to the resources exporters publish.
    /// Every call, this one included, waits at most `timeout`.
    pub fn connect(coordinator: &str, name: &str, timeout: Duration) -> Result<Self, LabgridError> {
        let fault = |why: String| LabgridError::Connect {
            coordinator: coordinator.to_string(),
            why,
        };
        // One worker thread drives the HTTP/2 connection and the stream
        // between calls; the caller's thread blocks on each call.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hilt-labgrid")
            .enable_all()
            .build()
            .map_err(|e| fault(format!("cannot start the gRPC runtime: {e}")))?;
        let endpoint = Endpoint::from_shared(format!("http://{coordinator}"))
            .map_err(|e| fault(format!("not a host:port: {e}")))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = runtime
            .block_on(async { tokio::time::timeout(timeout, endpoint.connect()).await })
            .map_err(|_| LabgridError::Timeout {
                coordinator: coordinator.to_string(),
                what: "the connection".into(),
                waited: timeout,
            })?
            .map_err(|e| fault(format!("cannot connect: {}", error_chain(&e))))?;
        let mut grpc = CoordinatorClient::new(channel);

        // The startup message is queued before the stream opens, so it is
        // the first thing the coordinator reads from this client.
        let (outgoing, receiver) = mpsc::channel(16);
        let opening = [
            client_in_message::Kind::Startup(proto::StartupDone {
                version: CLIENT_VERSION.into(),
                name: name.to_string(),
            }),
            client_in_message::Kind::Subscribe(proto::Subscribe {
                is_unsubscribe: None,
                kind: Some(subscribe::Kind::AllResources(true)),
            }),
        ];
        for kind in opening {
            outgoing
                .try_send(ClientInMessage { kind: Some(kind) })
                .map_err(|e| fault(format!("cannot queue the startup message: {e}")))?;
        }
        let requests = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let response = runtime
            .block_on(async { tokio::time::timeout(timeout, grpc.client_stream(requests)).await })
            .map_err(|_| LabgridError::Timeout {
                coordinator: coordinator.to_string(),
                what: "the session stream".into(),
                waited: timeout,
            })?
            .map_err(|status| LabgridError::Refused {
                coordinator: coordinator.to_string(),
                what: "the session stream".into(),
                status: status.message().to_string(),
            })?;
        let (state_tx, state_rx) = watch::channel(StreamState::default());
        let resources = Arc::new(Mutex::new(HashMap::new()));
        runtime.spawn(read_stream(
            response.into_inner(),
            state_tx,
            resources.clone(),
        ));
        let mut client = Self {
            runtime,
            grpc,
            coordinator: coordinator.to_string(),
            name: name.to_string(),
            timeout,
            outgoing,
            stream: state_rx,
            resources,
            next_sync: 0,
        };
        // The echo proves the coordinator took the startup message (so
        // unary calls see a session) and sent the resources it had.
        client.sync()?;
        Ok(client)
    }

    /// The `host/user` name this session acquires places under.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn coordinator(&self) -> &str {
        &self.coordinator
    }

    /// Waits until the coordinator has sent everything it queued for this
    /// client before now.
    pub fn sync(&mut self) -> Result<(), LabgridError> {
        self.next_sync += 1;
        let id = self.next_sync;
        let message = ClientInMessage {
            kind: Some(client_in_message::Kind::Sync(proto::Sync { id })),
        };
        let lost = |why: String| LabgridError::SessionLost {
            coordinator: self.coordinator.clone(),
            why,
        };
        let outgoing = self.outgoing.clone();
        let mut stream = self.stream.clone();
        let timeout = self.timeout;
        let result = self.runtime.block_on(async move {
            outgoing
                .send(message)
                .await
                .map_err(|_| "the stream is closed".to_string())?;
            let done = tokio::time::timeout(
                timeout,
                stream.wait_for(|s| s.synced >= id || s.ended.is_some()),
            )
            .await;
            match done {
                Err(_) => Err(None),
                Ok(Err(_)) => Err(Some("the stream reader stopped".to_string())),
                Ok(Ok(state)) => match &state.ended {
                    Some(why) if state.synced < id => Err(Some(why.clone())),
                    _ => Ok(()),
                },
            }
            .map_err(|e: Option<String>| e.unwrap_or_default())
        });
        match result {
            Ok(()) => Ok(()),
            Err(why) if why.is_empty() => Err(LabgridError::Timeout {
                coordinator: self.coordinator.clone(),
                what: "a sync on the session stream".into(),
                waited: timeout,
            }),
            Err(why) => Err(lost(why)),
        }
    }

    /// Runs one unary call within the timeout.
    fn call<T, F>(&mut self, what: &str, call: F) -> Result<T, LabgridError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let timeout = self.timeout;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, call).await })
        {
            Err(_) => Err(LabgridError::Timeout {
                coordinator: self.coordinator.clone(),
                what: what.to_string(),
                waited: timeout,
            }),
            Ok(Err(status)) => Err(LabgridError::Refused {
                coordinator: self.coordinator.clone(),
                what: what.to_string(),
                status: status.message().to_string(),
            }),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    pub fn places(&mut self) -> Result<Vec<Place>, LabgridError> {
        let mut grpc = self.grpc.clone();
        let reply = self.call("GetPlaces", async move {
            grpc.get_places(proto::GetPlacesRequest {}).await
        })?;
        Ok(reply.places.into_iter().map(Place::from).collect())
    }

    pub fn place(&mut self, name: &str) -> Result<Place, LabgridError> {
        let places = self.places()?;
        let known = places
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        places
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| LabgridError::NoSuchPlace {
                coordinator: self.coordinator.clone(),
                place: name.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known
                },
            })
    }

    /// Acquires `place` for this session's name.
    pub fn acquire(&mut self, place: &str) -> Result<Held, LabgridError> {
        let mut grpc = self.grpc.clone();
        let placename = place.to_string();
        self.call(&format!("acquiring place {place}"), async move {
            grpc.acquire_place(proto::AcquirePlaceRequest { placename })
                .await
        })?;
        Ok(Held {
            place: place.to_string(),
            reservation: None,
        })
    }

    /// Reserves a place whose tags match `tags` (the name matches as the
    /// tag `name`), polling the reservation until a place is allocated,
    /// then acquires it. Gives up, cancelling the reservation, after
    /// `wait` or when `stopped()` says so.
    pub fn reserve_and_acquire(
        &mut self,
        tags: &BTreeMap<String, String>,
        wait: Duration,
        stopped: &dyn Fn() -> bool,
    ) -> Result<Held, LabgridError> {
        let described = tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut grpc = self.grpc.clone();
        let filter = proto::reservation::Filter {
            filter: tags.clone().into_iter().collect(),
        };
        let created = self.call(&format!("reserving {described}"), async move {
            grpc.create_reservation(proto::CreateReservationRequest {
                filters: [("main".to_string(), filter)].into_iter().collect(),
                prio: 0.0,
            })
            .await
        })?;
        let token = created
            .reservation
            .map(|r| r.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| LabgridError::Refused {
                coordinator: self.coordinator.clone(),
                what: format!("reserving {described}"),
                status: "the reply holds no reservation token".into(),
            })?;
        let result = self.await_allocation(&token, &described, wait, stopped);
        let place = match result {
            Ok(place) => place,
            Err(e) => {
                let _ = self.cancel_reservation(&token);
                return Err(e);
            }
        };
        match self.acquire(&place) {
            Ok(_) => Ok(Held {
                place,
                reservation: Some(token),
            }),
            Err(e) => {
                let _ = self.cancel_reservation(&token);
                Err(e)
            }
        }
    }

    fn await_allocation(
        &mut self,
        token: &str,
        described: &str,
        wait: Duration,
        stopped: &dyn Fn() -> bool,
    ) -> Result<String, LabgridError> {
        let started = Instant::now();
        loop {
            let reservation = self.poll_reservation(token)?;
            let allocated = reservation
                .allocations
                .get("main")
                .filter(|p| !p.is_empty());
            match (reservation.state, allocated) {
                (1 | 2, Some(place)) => return Ok(place.clone()),
                (3 | 4, _) => {
                    return Err(LabgridError::ReservationEnded {
                        coordinator: self.coordinator.clone(),
                        token: token.to_string(),
                        tags: described.to_string(),
                        state: reservation_state_name(reservation.state),
                    })
                }
                _ => {}
            }
            if stopped() {
                return Err(LabgridError::Stopped(format!("a place for {described}")));
            }
            if started.elapsed() >= wait {
                return Err(LabgridError::Timeout {
                    coordinator: self.coordinator.clone(),
                    what: format!("a place for {described} (reservation {token} still waiting)"),
                    waited: wait,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls a reservation, which keeps it from lapsing.
    pub fn poll_reservation(&mut self, token: &str) -> Result<proto::Reservation, LabgridError> {
        let mut grpc = self.grpc.clone();
        let request = proto::PollReservationRequest {
            token: token.to_string(),
        };
        let reply = self.call(&format!("polling reservation {token}"), async move {
            grpc.poll_reservation(request).await
        })?;
        reply.reservation.ok_or_else(|| LabgridError::Refused {
            coordinator: self.coordinator.clone(),
            what: format!("polling reservation {token}"),
            status: "the reply holds no reservation".into(),
        })
    }

    pub fn cancel_reservation(&mut self, token: &str) -> Result<(), LabgridError> {
        let mut grpc = self.grpc.clone();
        let request = proto::CancelReservationRequest {
            token: token.to_string(),
        };
        self.call(&format!("cancelling reservation {token}"), async move {
            grpc.cancel_reservation(request).await
        })?;
        Ok(())
    }

    /// Releases `place` if `user` holds it; succeeds when nobody does (so
    /// releasing twice, or after a watchdog did, is no error).
    pub fn release_from(&mut self, place: &str, user: &str) -> Result<(), LabgridError> {
        let mut grpc = self.grpc.clone();
        let request = proto::ReleasePlaceRequest {
            placename: place.to_string(),
            fromuser: Some(user.to_string()),
        };
        self.call(&format!("releasing place {place}"), async move {
            grpc.release_place(request).await
        })?;
        Ok(())
    }

    /// Releases a place this session holds, and cancels its reservation.
    pub fn release(&mut self, held: &Held) -> Result<(), LabgridError> {
        let name = self.name.clone();
        let released = self.release_from(&held.place, &name);
        let cancelled = match &held.reservation {
            Some(token) => self.cancel_reservation(token),
            None => Ok(()),
        };
        released.and(cancelled)
    }

    /// The resources `place` holds, as published now.
    pub fn place_resources(&mut self, place: &str) -> Result<Vec<Resource>, LabgridError> {
        let place = self.place(place)?;
        self.sync()?;
        let known = self
            .resources
            .lock()
            .map_err(|_| LabgridError::SessionLost {
                coordinator: self.coordinator.clone(),
                why: "the resource table was poisoned".into(),
            })?;
        Ok(place
            .acquired_resources
            .iter()
            .filter_map(|path| known.get(path).cloned())
            .collect())
    }
}

/// Reads the client stream until it ends: resource updates into the
/// table, sync echoes into the state.
async fn read_stream(
    mut stream: tonic::Streaming<proto::ClientOutMessage>,
    state: watch::Sender<StreamState>,
    resources: Arc<Mutex<HashMap<String, Resource>>>,
) {
    let ended = loop {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break "the coordinator closed it".to_string(),
            Err(status) => break status.message().to_string(),
        };
        if let Ok(mut table) = resources.lock() {
            for update in message.updates {
                match update.kind {
                    Some(update_response::Kind::Resource(r)) => {
                        if let Some(r) = Resource::from_proto(&r) {
                            if table.len() < MAX_RESOURCES || table.contains_key(&r.path()) {
                                table.insert(r.path(), r);
                            }
                        }
                    }
                    Some(update_response::Kind::DelResource(path)) => {
                        let prefix = format!(
                            "{}/{}/",
                            path.exporter_name.unwrap_or_default(),
                            path.group_name
                        );
                        let suffix = format!("/{}", path.resource_name);
                        table.retain(|k, _| !(k.starts_with(&prefix) && k.ends_with(&suffix)));
                    }
                    _ => {}
                }
            }
        }
        if let Some(sync) = message.sync {
            state.send_modify(|s| s.synced = s.synced.max(sync.id));
        }
    };
    state.send_modify(|s| s.ended = Some(ended));
}

/// An error with its causes: tonic's transport errors say little at the top.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
