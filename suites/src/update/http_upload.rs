//! The HTTP(S) upload path: the image as the whole body or as a file field
//! of a multipart form, with the interface's authentication; restart and
//! confirm by the declared requests.

use hilt_harness::board::{ApiRef, HttpUploadPath, UploadBody, UploadMethod};
use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;
use hilt_net::http::{HttpRequest, HttpResponse};

use super::{Session, Stored, Updater, Upload};
use crate::api::{self, Auth};

/// An authorized request on the API `wanted` names that must succeed (2xx).
pub(super) fn send_ok(
    ctx: &mut CheckContext,
    wanted: Option<&ApiRef>,
    request: HttpRequest,
    what: &str,
) -> Result<HttpResponse, CheckError> {
    let target = api::target_for(ctx, wanted)?;
    let response = api::send(ctx, &target, request, Auth::Declared)?;
    if !(200..300).contains(&response.status) {
        return Err(CheckError::Board(format!(
            "the authorized {what} answered {} {}",
            response.status,
            short(&response.text())
        )));
    }
    Ok(response)
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

pub(super) struct HttpUpload(pub(super) HttpUploadPath);

impl HttpUpload {
    fn request(&self, image: &[u8]) -> HttpRequest {
        let request = match self.0.method {
            UploadMethod::Post => HttpRequest::post(&self.0.path),
            UploadMethod::Put => HttpRequest::put(&self.0.path),
        };
        match &self.0.body {
            UploadBody::Raw => request
                .header("Content-Type", "application/octet-stream")
                .body(image.to_vec()),
            UploadBody::Multipart(form) => {
                let (content_type, body) = multipart(&form.field, &form.filename, image);
                request.header("Content-Type", &content_type).body(body)
            }
        }
    }
}

/// A `multipart/form-data` body with one file field: (content type, body).
fn multipart(field: &str, filename: &str, data: &[u8]) -> (String, Vec<u8>) {
    // A boundary that cannot occur in the image: grown until it does not.
    let mut boundary = String::from("hilt-image-boundary");
    while data
        .windows(boundary.len())
        .any(|w| w == boundary.as_bytes())
    {
        boundary.push('x');
    }
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Updater for HttpUpload {
    fn label(&self) -> String {
        let body = match &self.0.body {
            UploadBody::Raw => "raw".to_string(),
            UploadBody::Multipart(f) => format!("multipart field {}", f.field),
        };
        let method = match self.0.method {
            UploadMethod::Post => "POST",
            UploadMethod::Put => "PUT",
        };
        format!("HTTP {method} {} ({body})", self.0.path)
    }

    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        session: Session,
    ) -> Result<Upload, CheckError> {
        let target = api::target_for(ctx, self.0.api.as_ref())?;
        let auth = match session {
            Session::Authorized => Auth::Declared,
            Session::Unauthenticated => Auth::None,
        };
        let response = api::send(ctx, &target, self.request(image), auth)?;
        let note = format!(
            "upload answered {} {}",
            response.status,
            short(response.text().trim())
        );
        Ok(if (200..300).contains(&response.status) {
            Upload::Taken(note)
        } else {
            Upload::Refused(note)
        })
    }

    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        send_ok(
            ctx,
            self.0.api.as_ref(),
            HttpRequest::post(&self.0.reboot),
            "reboot request",
        )
        .map(|_| ())
    }

    fn confirm(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        let path = self.0.confirm.clone().ok_or_else(|| {
            CheckError::Harness(format!(
                "{} declares no confirm request (declares.update.paths[].http.confirm)",
                self.label()
            ))
        })?;
        send_ok(
            ctx,
            self.0.api.as_ref(),
            HttpRequest::post(&path),
            "confirm request",
        )
        .map(|_| ())
    }

    fn discard(&self, _ctx: &mut CheckContext) -> Result<bool, CheckError> {
        Ok(false)
    }

    fn stored(&self, _ctx: &mut CheckContext) -> Result<Stored, CheckError> {
        Ok(Stored::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_boundary_never_occurs_in_the_image() {
        let image = b"\x00hilt-image-boundary\xff".to_vec();
        let (content_type, body) = multipart("firmware", "fw.bin", &image);
        let boundary = content_type.rsplit('=').next().expect("boundary");
        assert_eq!(boundary, "hilt-image-boundaryx");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--hilt-image-boundaryx\r\nContent-Disposition: form-data; name=\"firmware\"; filename=\"fw.bin\""));
        assert!(text.ends_with("\r\n--hilt-image-boundaryx--\r\n"));
        assert!(body.windows(image.len()).any(|w| w == image.as_slice()));
    }
}
