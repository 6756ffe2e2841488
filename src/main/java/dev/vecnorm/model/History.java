package dev.vecnorm.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@link Sequential#fit} returns: per-epoch values of the loss and metrics (and their val_ versions). */
public final class History {
  private final Map<String, List<Double>> values = new LinkedHashMap<>();

  void record(Map<String, Double> logs) {
    logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
  }

  public Map<String, List<Double>> history() {
    return values;
  }

  public List<Double> get(String key) {
    return values.getOrDefault(key, List.of());
  }

  public int epochs() {
    return values.isEmpty() ? 0 : values.values().iterator().next().size();
  }
}
