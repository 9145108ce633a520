//! Reading a file an operator names (a schema, a trusted documents manifest): only a regular
//! file, and only up to a bound, so a device, a pipe or a directory is refused at once rather
//! than read forever or waited on.

use std::io::Read as _;
use std::path::Path;

/// The most a named file may hold.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The text of the regular file at `path`, at most [`MAX_FILE_BYTES`]; the error says why not
/// in one line (without the path, which the caller names).
pub fn read_text(path: &Path) -> Result<String, String> {
    // Looked at before opening it: opening a pipe for reading waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "it holds more than {} MiB",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_of_bounded_size_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a.graphql");
        std::fs::write(&file, "type Query { a: Int }").expect("write");
        assert_eq!(read_text(&file), Ok("type Query { a: Int }".to_owned()));
        assert_eq!(
            read_text(dir.path()),
            Err("it is not a regular file".to_owned())
        );
        // A device that never ends is refused before a byte is read.
        assert_eq!(
            read_text(Path::new("/dev/zero")),
            Err("it is not a regular file".to_owned())
        );
        std::fs::write(&file, [0xff, 0xfe]).expect("write");
        assert_eq!(read_text(&file), Err("it is not UTF-8 text".to_owned()));
        assert!(read_text(&dir.path().join("missing")).is_err());
    }
}
