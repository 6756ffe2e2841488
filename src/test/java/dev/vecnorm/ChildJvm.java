package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a test class's {@code main} in a fresh JVM on the test class path. For what is decided once per JVM (the
 * provider's choice and its log line) and for what depends on a JVM's history (which code C2 compiled, after which
 * other tests: a steady-state allocation check in the shared test JVM passed or failed with the test order).
 */
public final class ChildJvm {
  private ChildJvm() {}

  /** The child's stdout, stripped, and its stderr lines without the JDK's incubator notice. */
  public record Run(String stdout, List<String> stderr) {}

  /** Runs {@code main} with {@code jvmArgs}; fails the test unless it exits with 0 within {@code seconds}. */
  public static Run run(Class<?> main, int seconds, String... jvmArgs) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(List.of(jvmArgs));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    Process p = new ProcessBuilder(cmd).start();
    p.getOutputStream().close();
    assertTrue(p.waitFor(seconds, TimeUnit.SECONDS), "child JVM did not finish: " + cmd);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    List<String> err = new ArrayList<>();
    for (String line : new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).split("\\R")) {
      // The JDK's own start-up notice, not ours.
      if (!line.isBlank() && !line.contains("Using incubator modules")) err.add(line);
    }
    assertEquals(0, p.exitValue(), "child JVM failed: " + err);
    return new Run(out, err);
  }

  /** The {@code name<TAB>bytes} lines of a child's output, as name and number: what the allocation probes print. */
  static java.util.Map<String, Long> byteCounts(String out) {
    java.util.Map<String, Long> counts = new java.util.LinkedHashMap<>();
    for (String line : out.split("\\R")) {
      String[] f = line.split("\t");
      if (f.length == 2) counts.put(f[0], Long.parseLong(f[1].trim()));
    }
    return counts;
  }
}
