package dev.vecnorm.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@link Sequential#fit} returns: per-epoch values of the loss and metrics (and their val_ versions). */
public final class History {
  private final Map<String, List<Double>> values = new LinkedHashMap<>();

  /** An empty history (no epochs); {@link Model#fit} fills the one it returns. */
  public History() {}

  /**
   * Appends one epoch's logs, as fit does after each epoch; for training loops outside {@link Model#fit},
   * such as data-parallel training.
   *
   * @param logs one value per log name for this epoch; not null
   */
  public void record(Map<String, Double> logs) {
    logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
  }

  /**
   * Every log, as Keras's {@code History.history}.
   *
   * @return per log name, one value per epoch, in the order first logged
   */
  public Map<String, List<Double>> history() {
    return values;
  }

  /**
   * The per-epoch values of one log.
   *
   * @param key a log name, for example {@code "loss"} or {@code "val_accuracy"}
   * @return one value per epoch, empty if the key was never logged
   */
  public List<Double> get(String key) {
    return values.getOrDefault(key, List.of());
  }

  /**
   * Epochs recorded.
   *
   * @return the number of epochs, 0 before any
   */
  public int epochs() {
    return values.isEmpty() ? 0 : values.values().iterator().next().size();
  }
}
