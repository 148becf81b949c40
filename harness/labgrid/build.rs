//! Generates the coordinator client from our subset of labgrid's protocol.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/labgrid-coordinator.proto");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&["proto/labgrid-coordinator.proto"], &["proto"])?;
    Ok(())
}
