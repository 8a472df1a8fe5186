"""Training of the capture model (torch). Never imported by the runtime or the add-on."""
