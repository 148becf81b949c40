pub mod netns_device;
pub mod pty_device;
