//! A connection's prepared statements, for the writes' fixed SQL.
//!
//! Given SQL text, tokio-postgres prepares it on every call: a round trip to
//! parse and describe it, then another to bind and run it, and the database
//! plans it afresh each time. A statement log of a durable write load showed
//! the parsing and planning costing as much as the running. Prepared once per
//! connection, a write's statements are one round trip each, and after a few
//! runs the database keeps a generic plan (these look rows up by key, so one
//! plan fits every value). Listing queries are not prepared: their SQL varies,
//! and their plans depend on the values.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, GenericClient, Row, Statement, Transaction};

/// Statements prepared on one connection, by their SQL (a fixed set: never
/// SQL that varies with a request's values).
#[derive(Default)]
pub struct Statements(Mutex<HashMap<String, Statement>>);

impl Statements {
    // The lock is never held across an await: a statement prepared twice by
    // a race is harmless.
    /// `sql` as prepared on this connection (through `client`, the
    /// connection itself or a transaction on it), preparing it the first time.
    pub async fn get(&self, client: &impl GenericClient, sql: &str) -> Result<Statement, Error> {
        if let Some(s) = self.0.lock().ok().and_then(|m| m.get(sql).cloned()) {
            return Ok(s);
        }
        let s = client.prepare(sql).await?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(sql.to_string(), s.clone());
        }
        Ok(s)
    }
}

/// A transaction that runs its fixed SQL as statements prepared on its
/// connection.
pub struct Writer<'a, 'b> {
    pub tx: &'a Transaction<'b>,
    statements: &'a Statements,
}

impl<'a, 'b> Writer<'a, 'b> {
    pub fn new(tx: &'a Transaction<'b>, statements: &'a Statements) -> Self {
        Writer { tx, statements }
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, Error> {
        self.statements.get(self.tx, sql).await
    }

    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let s = self.statement(sql).await?;
        self.tx.execute(&s, params).await
    }

    pub async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let s = self.statement(sql).await?;
        self.tx.query_one(&s, params).await
    }

    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let s = self.statement(sql).await?;
        self.tx.query_opt(&s, params).await
    }
}
