package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What the provider prints, seen from a fresh JVM (its choice is made once per JVM, so this one's
 * output is long gone): a correctly configured run prints nothing, {@code -Dvecnorm.verbose=true} one
 * line, a missing vector module one warning naming the flag that fixes it.
 */
class ProviderLoggingTest {

  /** Entry point of the child JVM: first use of the kernels, then the chosen implementation on stdout. */
  public static final class Child {
    public static void main(String[] args) {
      System.out.println(dev.vecnorm.BatchNorm.implementationName());
    }
  }

  record Run(String stdout, List<String> stderr) {}

  private static Run run(String... jvmArgs) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(List.of(jvmArgs));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Child.class.getName()));
    Process p = new ProcessBuilder(cmd).start();
    p.getOutputStream().close();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish: " + cmd);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    List<String> err = new ArrayList<>();
    for (String line : new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).split("\\R")) {
      // The JDK's own start-up notice, not ours.
      if (!line.isBlank() && !line.contains("Using incubator modules")) err.add(line);
    }
    assertEquals(0, p.exitValue(), "child JVM failed: " + err);
    return new Run(out, err);
  }

  @Test
  void aWorkingSetupPrintsNothing() throws Exception {
    Run r = run("--add-modules", "jdk.incubator.vector");
    assertEquals(List.of(), r.stderr(), "nothing on stderr when the Vector API is enabled");
    if (Boolean.getBoolean("vecnorm.expectVector")) assertEquals("panama", r.stdout());
  }

  @Test
  void verbosePrintsTheChoiceOnOneLine() throws Exception {
    Run r = run("--add-modules", "jdk.incubator.vector", "-Dvecnorm.verbose=true");
    assertEquals(1, r.stderr().size(), "one line: " + r.stderr());
    String expected = r.stdout().equals("panama") ? "vecnorm: Java Vector API enabled (" : "vecnorm: ";
    assertTrue(r.stderr().get(0).startsWith(expected), r.stderr().get(0));

    Run forced = run("-Dvecnorm.forceScalar=true", "-Dvecnorm.verbose=true");
    assertEquals("scalar", forced.stdout());
    assertEquals(List.of("vecnorm: scalar kernels forced by -Dvecnorm.forceScalar=true"), forced.stderr());
  }

  @Test
  void aMissingVectorModuleWarnsWithTheFix() throws Exception {
    Run r = run();
    assertEquals("scalar", r.stdout());
    // JUL's default format adds a header line (time, class) to every record; the message is one line.
    List<String> ours = r.stderr().stream().filter(l -> l.contains("vecnorm: ")).toList();
    assertEquals(1, ours.size(), "one message line: " + r.stderr());
    assertTrue(ours.get(0).startsWith("WARNING: vecnorm: "), "logged as a warning: " + ours.get(0));
    assertTrue(ours.get(0).contains("--add-modules jdk.incubator.vector"), ours.get(0));
  }
}
