"""Operations tooling: what the template's dashboard shows, generated from the metric catalogue."""
