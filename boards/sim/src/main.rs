fn main() {
    eprintln!("hilt-sim: not yet wired");
    std::process::exit(2);
}
