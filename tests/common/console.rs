//! A browser-like client for the web console over real HTTP: it keeps the
//! session and sign-in cookies, follows nothing by itself, and sends each
//! form with the CSRF token of the last page it read.

use super::TestServer;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client};

pub const SIGN_IN: &str = "/console/sign-in";

/// What one console request answered.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    /// Where a redirect points.
    pub fn location(&self) -> &str {
        self.header(LOCATION.as_str())
    }

    /// The page's CSRF token, as its forms carry it.
    pub fn csrf(&self) -> Option<String> {
        let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#).unwrap();
        re.captures(&self.body).map(|c| c[1].to_string())
    }
}

pub struct Console {
    base: String,
    http: Client,
    /// `inlet_session=<id>`, once signed in.
    pub cookie: Option<String>,
    /// `inlet_sign_in=<nonce>`, sent back to the sign-in form only.
    pub sign_in_cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Console {
    pub fn new(s: &TestServer) -> Self {
        Self {
            base: s.base.clone(),
            http: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            sign_in_cookie: None,
            csrf: None,
        }
    }

    /// A signed-in console (the sign-in must succeed).
    pub async fn signed_in(s: &TestServer, key: &str) -> Self {
        let mut c = Self::new(s);
        let page = c.sign_in(key).await;
        assert_eq!(page.status, 303, "sign-in: {}", page.body);
        assert_eq!(page.location(), "/console/connectors");
        c.get("/console/connectors").await;
        assert!(c.csrf.is_some(), "pages carry the CSRF token");
        c
    }

    async fn read(&mut self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
            let kept = (!pair.ends_with('=')).then(|| pair.clone());
            if pair.starts_with("inlet_sign_in=") {
                self.sign_in_cookie = kept;
            } else {
                self.cookie = kept;
            }
        }
        let page = Page {
            status,
            headers,
            body: resp.text().await.unwrap(),
        };
        if let Some(token) = page.csrf() {
            self.csrf = Some(token);
        }
        page
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        let sign_in = self.sign_in_cookie.as_ref().filter(|_| path == SIGN_IN);
        let cookies: Vec<&str> = self
            .cookie
            .iter()
            .chain(sign_in)
            .map(String::as_str)
            .collect();
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies.join("; "));
        }
        req
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        self.read(resp).await
    }

    /// Reads the sign-in page (its cookie and token), then sends the form.
    pub async fn sign_in(&mut self, key: &str) -> Page {
        self.get(SIGN_IN).await;
        self.post(SIGN_IN, &[("api_key", key)]).await
    }

    /// A form as the console's own page sends it (with the token).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.clone().expect("a page with a token was read");
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[]).await
    }

    /// Exactly these fields and extra headers.
    pub async fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        let mut req = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.read(resp).await
    }
}
