pub mod pty_device;
