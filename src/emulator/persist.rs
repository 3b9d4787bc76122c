//! `--data FILE`: the model as JSON, loaded at start and rewritten atomically (temp file,
//! rename) whenever it changes. Tasks, faults and call counts are not persisted.

use std::path::Path;

use super::EmulatorError;
use super::model::Model;

/// The saved model, or `None` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<Model>, EmulatorError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(EmulatorError::DataRead {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| EmulatorError::DataParse {
            path: path.to_path_buf(),
            error,
        })
}

pub fn save(path: &Path, model: &Model) -> Result<(), EmulatorError> {
    let text = serde_json::to_string_pretty(model).expect("the model always serializes");
    let temp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        std::fs::write(&temp, text.as_bytes())?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|error| EmulatorError::DataWrite {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_treats_a_missing_file_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        assert_eq!(load(&path).unwrap(), None);
        let mut model = Model::default();
        model.add_node("10.0.0.1", true);
        save(&path, &model).unwrap();
        assert_eq!(load(&path).unwrap(), Some(model));
    }

    #[test]
    fn a_corrupt_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("model.json"), "{err}");
    }
}
