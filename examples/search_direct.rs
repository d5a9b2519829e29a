//! The ceiling of `bench/search.py`: one SQL statement run straight on a
//! SQLite database file, with the server's SQLite library and ranking
//! function (`inlet_rank`), from THREADS threads with a read-only
//! connection each, for about SECONDS; prints the statements per second.
//!
//! `search_direct DATABASE_FILE SQL_FILE THREADS SECONDS`

use rusqlite::{Connection, OpenFlags};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, sql, threads, seconds] = &args[..] else {
        eprintln!("usage: search_direct DATABASE_FILE SQL_FILE THREADS SECONDS");
        std::process::exit(2);
    };
    let sql = std::fs::read_to_string(sql).unwrap();
    let threads: usize = threads.parse().unwrap();
    let until = Instant::now() + Duration::from_secs_f64(seconds.parse().unwrap());
    let started = Instant::now();
    let runs: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| run_until(db, &sql, until)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("{:.1}", runs as f64 / started.elapsed().as_secs_f64());
}

/// How many times one connection ran the statement, to its last row,
/// before `until`.
fn run_until(db: &str, sql: &str, until: Instant) -> u64 {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    inlet::store::register_sqlite_rank(&conn).unwrap();
    let mut statement = conn.prepare(sql).unwrap();
    let mut runs = 0;
    while Instant::now() < until {
        let mut rows = statement.query([]).unwrap();
        while rows.next().unwrap().is_some() {}
        runs += 1;
    }
    runs
}
