// `sqlx::migrate!` embeds the files of `migrations/` at compile time, and
// cargo does not know that it read them: without this, a new migration
// leaves an incremental build as it was.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
