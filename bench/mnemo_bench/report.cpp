// bench/mnemo_bench/report.cpp — mnemo-bench's table, JSON, comparison and plot (report.hpp).
#include "mnemo_bench/report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.hpp"

namespace mnemo::bench_cli {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

/// Three significant digits at least, no exponent for the magnitudes a table shows.
std::string number(double v) {
  const double a = std::abs(v);
  if (a == 0) return "0";
  if (a >= 100) return fixed(v, 0);
  if (a >= 10) return fixed(v, 1);
  if (a >= 1) return fixed(v, 2);
  if (a >= 0.01) return fixed(v, 3);
  std::ostringstream s;
  s << std::setprecision(3) << v;
  return s.str();
}

std::string key_of(const CaseResult& r) {
  std::string k = r.case_name;
  auto params = r.params;
  std::sort(params.begin(), params.end());
  for (const auto& [n, v] : params) k += " " + n + "=" + v;
  auto flags = r.flags;
  std::sort(flags.begin(), flags.end());
  for (const auto& f : flags) k += " --" + f;
  return k;
}

void print_rows(std::ostream& out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c)
      out << (c ? "  " : "") << std::string(width[c] - cells[c].size(), ' ') << cells[c];
    out << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
}

}  // namespace

const std::string& CaseResult::param(const std::string& name) const {
  for (const auto& [n, v] : params)
    if (n == name) return v;
  throw Error(mnemo::detail::cat("mnemo-bench: result of ", case_name, " has no parameter ", name));
}

std::string CaseResult::label(const std::vector<std::string>& names) const {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n + "=" + param(n);
  return out;
}

void print_table(std::ostream& out, const std::vector<CaseResult>& results, const std::vector<std::string>& swept) {
  if (results.empty()) return;
  const CaseResult& first = results.front();
  std::string fixed_params;
  for (const auto& [n, v] : first.params)
    if (std::find(swept.begin(), swept.end(), n) == swept.end()) fixed_params += " --" + n + " " + v;
  for (const auto& f : first.flags) fixed_params += " --" + f;
  out << first.case_name << ":" << fixed_params << "\n";
  std::map<std::string, double> ceilings;  // one per backend, dtype, threads and n
  for (const auto& r : results)
    if (r.gemm_ceiling_n > 0)
      ceilings[r.param("backend") + " " + r.param("dtype") + " " + std::to_string(r.gemm_ceiling_n) + "^3, " +
               std::to_string(r.threads) + " threads"] = r.gemm_ceiling_gflops;
  if (!ceilings.empty()) {
    out << "GEMM ceiling (same run):";
    for (const auto& [k, v] : ceilings) out << "  " << k << ": " << number(v) << " GFLOP/s";
    out << "\n";
  }
  std::vector<std::string> header = swept;
  for (const char* h : {"median_ms", "spread_%", "min_ms", "max_ms", "reps", "cpu_ms", "tokens/s", "GFLOP/s", "%ceiling",
                        "peak_MiB", "work_MiB", "state_KiB/stream"})
    header.emplace_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : results) {
    std::vector<std::string> row;
    for (const auto& s : swept) row.push_back(r.param(s));
    row.push_back(number(r.stats.median * 1e3));
    row.push_back(fixed(100 * r.stats.spread(), 1));
    row.push_back(number(r.stats.min * 1e3));
    row.push_back(number(r.stats.max * 1e3));
    row.push_back(std::to_string(r.stats.count) + "x" + std::to_string(r.calls_per_repetition));
    row.push_back(number(r.cpu_seconds_per_call * 1e3));
    row.push_back(number(r.tokens_per_second()));
    row.push_back(number(r.gflops()));
    row.push_back(r.gemm_ceiling_gflops > 0 ? fixed(100 * r.ceiling_fraction(), 1) : "-");
    row.push_back(number(r.peak_bytes / kMiB));
    row.push_back(number(r.peak_above_start_bytes / kMiB));
    row.push_back(number(r.state_bytes_per_stream / 1024.0));
    rows.push_back(std::move(row));
  }
  print_rows(out, header, rows);
}

void write_json(const std::string& path, const std::vector<CaseResult>& results, const std::string& command_line) {
  nlohmann::json doc;
  doc["format"] = "mnemo-bench/1";
  doc["command_line"] = command_line;
  doc["results"] = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json j;
    j["case"] = r.case_name;
    j["params"] = nlohmann::json::object();
    for (const auto& [n, v] : r.params) j["params"][n] = v;
    j["flags"] = r.flags;
    j["seconds"] = r.seconds;
    j["median_s"] = r.stats.median;
    j["min_s"] = r.stats.min;
    j["max_s"] = r.stats.max;
    j["spread"] = r.stats.spread();
    j["calls_per_repetition"] = r.calls_per_repetition;
    j["cpu_s_per_call"] = r.cpu_seconds_per_call;
    j["threads"] = r.threads;
    j["tokens_per_call"] = r.tokens_per_call;
    j["tokens_per_s"] = r.tokens_per_second();
    j["flops_per_call"] = r.flops_per_call;
    j["gflops"] = r.gflops();
    j["gemm_ceiling_gflops"] = r.gemm_ceiling_gflops;
    j["gemm_ceiling_n"] = r.gemm_ceiling_n;
    j["ceiling_fraction"] = r.ceiling_fraction();
    j["peak_bytes"] = r.peak_bytes;
    j["peak_above_start_bytes"] = r.peak_above_start_bytes;
    j["state_bytes_per_stream"] = r.state_bytes_per_stream;
    doc["results"].push_back(std::move(j));
  }
  std::ofstream f(path);
  if (!f) throw IoError(mnemo::detail::cat("mnemo-bench: cannot open '", path, "' for writing (--json)"));
  f << doc.dump(2) << "\n";
  if (!f) throw IoError(mnemo::detail::cat("mnemo-bench: writing '", path, "' failed"));
}

std::vector<CaseResult> read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw IoError(mnemo::detail::cat("cannot open '", path, "' (expected a JSON file written by mnemo-bench --json)"));
  nlohmann::json doc;
  try {
    f >> doc;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(mnemo::detail::cat("'", path, "' is not JSON (", e.what(), ")"));
  }
  if (!doc.is_object() || doc.value("format", std::string()) != "mnemo-bench/1" || !doc.contains("results") ||
      !doc["results"].is_array())
    throw IoError(mnemo::detail::cat("'", path, "': expected a mnemo-bench/1 JSON file (--json), got another document"));
  std::vector<CaseResult> out;
  try {
    for (const auto& j : doc["results"]) {
      CaseResult r;
      r.case_name = j.at("case").get<std::string>();
      for (const auto& [n, v] : j.at("params").items()) r.params.emplace_back(n, v.get<std::string>());
      r.flags = j.at("flags").get<std::vector<std::string>>();
      r.seconds = j.at("seconds").get<std::vector<double>>();
      if (r.seconds.empty()) throw IoError(mnemo::detail::cat("'", path, "': a result of ", r.case_name, " has no samples"));
      r.stats = mnemo::bench::summarize(r.seconds);
      r.calls_per_repetition = j.at("calls_per_repetition").get<int64_t>();
      r.cpu_seconds_per_call = j.at("cpu_s_per_call").get<double>();
      r.threads = j.at("threads").get<int>();
      r.tokens_per_call = j.at("tokens_per_call").get<double>();
      r.flops_per_call = j.at("flops_per_call").get<double>();
      r.gemm_ceiling_gflops = j.at("gemm_ceiling_gflops").get<double>();
      r.gemm_ceiling_n = j.at("gemm_ceiling_n").get<int64_t>();
      r.peak_bytes = j.at("peak_bytes").get<double>();
      r.peak_above_start_bytes = j.at("peak_above_start_bytes").get<double>();
      r.state_bytes_per_stream = j.at("state_bytes_per_stream").get<double>();
      out.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    throw IoError(mnemo::detail::cat("'", path, "': a result is missing a field or has the wrong type (", e.what(), ")"));
  }
  return out;
}

int print_comparison(std::ostream& out, const std::vector<CaseResult>& a, const std::vector<CaseResult>& b,
                     const std::string& name_a, const std::string& name_b) {
  std::map<std::string, const CaseResult*> by_key;
  for (const auto& r : a) by_key[key_of(r)] = &r;
  std::vector<std::pair<const CaseResult*, const CaseResult*>> pairs;
  for (const auto& rb : b) {
    const auto it = by_key.find(key_of(rb));
    if (it != by_key.end()) pairs.emplace_back(it->second, &rb);
  }
  out << "A = " << name_a << "\nB = " << name_b << "\n";
  if (pairs.empty()) {
    out << "no case of B matches one of A (same case, parameters and switches)\n";
    return 0;
  }
  // Rows are labelled by what varies among them; the rest is printed once.
  std::vector<std::string> varying;
  std::string common = pairs.front().second->case_name;
  for (const auto& [n, v] : pairs.front().second->params) {
    const bool varies = std::any_of(pairs.begin(), pairs.end(), [&](const auto& p) { return p.second->param(n) != v; });
    if (varies) varying.push_back(n);
    else common += " --" + n + " " + v;
  }
  out << "cases: " << common << "\n";
  const auto ratio = [](double x, double y) { return y > 0 ? fixed(x / y, 3) : std::string("-"); };
  std::vector<std::vector<std::string>> rows;
  for (const auto& [ra, rb] : pairs) {
    std::string label = rb->case_name != pairs.front().second->case_name ? rb->case_name + " " : "";
    label += varying.empty() ? "(all)" : rb->label(varying);
    rows.push_back({label, number(ra->stats.median * 1e3), number(rb->stats.median * 1e3),
                    ratio(rb->stats.median, ra->stats.median), ratio(rb->tokens_per_second(), ra->tokens_per_second()),
                    ratio(rb->peak_above_start_bytes, ra->peak_above_start_bytes),
                    fixed(100 * ra->stats.spread(), 1) + "/" + fixed(100 * rb->stats.spread(), 1)});
  }
  print_rows(out, {"case", "A_ms", "B_ms", "time_B/A", "tokens/s_B/A", "work_B/A", "spread_%_A/B"}, rows);
  out << rows.size() << " of " << b.size() << " cases of B matched (time_B/A < 1: B faster)\n";
  return static_cast<int>(rows.size());
}

std::string write_plot(const std::string& png_path, const std::vector<CaseResult>& results,
                       const std::vector<std::string>& swept) {
  if (swept.empty() || results.empty()) return "--plot: nothing swept, no plot";
  const std::string stem = png_path.substr(0, png_path.size() - 4), dat = stem + ".dat", gp = stem + ".gp";
  // x: the first swept parameter with numeric values (else the first); the others make series.
  const auto numeric = [&](const std::string& name) {
    return std::all_of(results.begin(), results.end(), [&](const CaseResult& r) {
      const std::string& v = r.param(name);
      return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    });
  };
  const auto x_it = std::find_if(swept.begin(), swept.end(), numeric);
  const std::string x = x_it == swept.end() ? swept.front() : *x_it;
  std::vector<std::string> others;
  for (const auto& n : swept)
    if (n != x) others.push_back(n);
  // One series per combination of the other swept parameters, in first-seen order.
  std::vector<std::string> series;
  std::map<std::string, std::vector<const CaseResult*>> points;
  for (const auto& r : results) {
    const std::string s = others.empty() ? r.case_name : r.label(others);
    if (!points.count(s)) series.push_back(s);
    points[s].push_back(&r);
  }
  {
    std::ofstream d(dat);
    if (!d) throw IoError(mnemo::detail::cat("mnemo-bench: cannot open '", dat, "' for writing (--plot)"));
    d << "# mnemo-bench sweep over " << x << "; columns: " << x
      << " median_ms min_ms max_ms peak_above_start_MiB tokens_per_s gflops cpu_ms\n";
    for (size_t i = 0; i < series.size(); ++i) {
      d << (i ? "\n\n" : "") << "# series: " << series[i] << "\n";
      for (const CaseResult* r : points[series[i]])
        d << r->param(x) << " " << r->stats.median * 1e3 << " " << r->stats.min * 1e3 << " " << r->stats.max * 1e3 << " "
          << r->peak_above_start_bytes / kMiB << " " << r->tokens_per_second() << " " << r->gflops() << " "
          << r->cpu_seconds_per_call * 1e3 << "\n";
    }
  }
  const bool numeric_x = numeric(x);
  {
    std::ofstream g(gp);
    if (!g) throw IoError(mnemo::detail::cat("mnemo-bench: cannot open '", gp, "' for writing (--plot)"));
    g << "# gnuplot script written by mnemo-bench: gnuplot " << gp << "\n"
      << "set terminal pngcairo size 1200,480 noenhanced\nset output '" << png_path << "'\n"
      << "set multiplot layout 1,2 title '" << results.front().case_name << ": median time and peak working memory'\n"
      << "set grid\nset key top left\nset xlabel '" << x << "'\n";
    for (int panel = 0; panel < 2; ++panel) {
      g << "set ylabel '" << (panel == 0 ? "ms per call: median wall (bars: min-max), process CPU" : "peak working memory above start (MiB)")
        << "'\nplot ";
      for (size_t i = 0; i < series.size(); ++i) {
        g << (i ? ", \\\n     " : "") << "'" << dat << "' index " << i << " using ";
        if (panel == 0) {
          g << (numeric_x ? "1:2:3:4" : "0:2:3:4:xtic(1)") << " with yerrorlines lc " << i + 1 << " title '" << series[i]
            << " wall'";
          g << ", \\\n     '" << dat << "' index " << i << " using " << (numeric_x ? "1:8" : "0:8:xtic(1)")
            << " with linespoints dt 2 lc " << i + 1 << " title '" << series[i] << " CPU'";
        } else {
          g << (numeric_x ? "1:5" : "0:5:xtic(1)") << " with linespoints lc " << i + 1 << " title '" << series[i] << "'";
        }
      }
      g << "\n";
    }
    g << "unset multiplot\n";
  }
  std::string msg = "--plot: wrote " + dat + " and " + gp;
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    const std::string cmd = "gnuplot '" + gp + "'";
    msg += std::system(cmd.c_str()) == 0 ? ", drew " + png_path : "; gnuplot failed on " + gp;
  } else {
    msg += "; gnuplot is not installed (apt-get install gnuplot-nox), run: gnuplot " + gp;
  }
  return msg;
}

}  // namespace mnemo::bench_cli
