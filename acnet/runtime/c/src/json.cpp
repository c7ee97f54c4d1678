#include "json.h"

#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

namespace acnet::json {

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}

Value Value::number(double d) {
  Value v;
  v.type_ = Type::Number;
  v.number_ = d;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.string_ = std::move(s);
  return v;
}

Value Value::array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::Array;
  v.array_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

Value Value::object(Members members) {
  Value v;
  v.type_ = Type::Object;
  v.object_ = std::make_shared<const Members>(std::move(members));
  return v;
}

double Value::as_number() const {
  if (type_ != Type::Number) throw std::invalid_argument("expected a number");
  return number_;
}

const std::string& Value::as_string() const {
  if (type_ != Type::String) throw std::invalid_argument("expected a string");
  return string_;
}

bool Value::as_bool() const {
  if (type_ != Type::Bool) throw std::invalid_argument("expected true or false");
  return bool_;
}

const std::vector<Value>& Value::as_array() const {
  if (type_ != Type::Array) throw std::invalid_argument("expected an array");
  return *array_;
}

const Value::Members& Value::as_object() const {
  if (type_ != Type::Object) throw std::invalid_argument("expected an object");
  return *object_;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& [name, value] : *object_) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string display_name(std::string_view text) {
  if (text.size() > 40) return "?";
  for (char c : text) {
    if (c < 0x20 || c > 0x7E) return "?";
  }
  return std::string(text);
}

namespace {

// Offset of the first byte that does not start a well-formed UTF-8 sequence
// (RFC 3629, as Python's strict "utf-8" codec), or npos.
size_t invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;   // no overlong forms
      if (c == 0xED) hi = 0x9F;   // no surrogates U+D800..U+DFFF
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;   // no overlong forms
      if (c == 0xF4) hi = 0x8F;   // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (pos_ != text_.size()) error("trailing characters");
    return v;
  }

 private:
  std::string_view text_;
  int max_depth_;
  size_t pos_ = 0;

  [[noreturn]] void error(const std::string& what) const {
    throw std::invalid_argument("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  char peek() {
    skip_space();
    if (pos_ >= text_.size()) error("unexpected end");
    return text_[pos_];
  }

  void expect(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) error("expected a value");
    pos_ += word.size();
  }

  // `depth`: how many arrays and objects enclose this value.
  Value value(int depth) {
    const char c = peek();
    switch (c) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Value::string(string());
      case 't': expect("true"); return Value::boolean(true);
      case 'f': expect("false"); return Value::boolean(false);
      case 'n': expect("null"); return Value();
      default: return Value::number(number());
    }
  }

  void check_depth(int depth) const {
    if (depth > max_depth_) error("nested deeper than " + std::to_string(max_depth_) + " levels");
  }

  Value object(int depth) {
    check_depth(depth);
    ++pos_;  // {
    Value::Members members;
    std::set<std::string, std::less<>> names;
    if (peek() == '}') {
      ++pos_;
      return Value::object(std::move(members));
    }
    for (;;) {
      if (peek() != '"') error("expected a member name");
      const size_t at = pos_;
      std::string key = string();
      if (!names.insert(key).second) {
        pos_ = at;
        const std::string shown = display_name(key);
        error("duplicate member name" + (shown == "?" ? std::string() : " '" + shown + "'"));
      }
      if (peek() != ':') error("expected ':'");
      ++pos_;
      Value v = value(depth);
      members.emplace_back(std::move(key), std::move(v));
      const char c = peek();
      ++pos_;
      if (c == '}') break;
      if (c != ',') {
        --pos_;
        error("expected ',' or '}'");
      }
    }
    return Value::object(std::move(members));
  }

  Value array(int depth) {
    check_depth(depth);
    ++pos_;  // [
    std::vector<Value> items;
    if (peek() == ']') {
      ++pos_;
      return Value::array(std::move(items));
    }
    for (;;) {
      items.push_back(value(depth));
      const char c = peek();
      ++pos_;
      if (c == ']') break;
      if (c != ',') {
        --pos_;
        error("expected ',' or ']'");
      }
    }
    return Value::array(std::move(items));
  }

  unsigned hex4() {
    if (pos_ + 4 > text_.size()) error("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') code |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') code |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') code |= static_cast<unsigned>(h - 'A' + 10);
      else error("bad \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // The raw bytes were checked to be UTF-8 before parsing began.
  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) error("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const size_t at = pos_ - 2;
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            if (text_.substr(pos_, 2) != "\\u") {
              pos_ = at;
              error("lone surrogate");
            }
            pos_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) {
              pos_ = at;
              error("lone surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            pos_ = at;
            error("lone surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: pos_ -= 2; error("bad escape");
      }
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, converted correctly
  // rounded (from_chars ignores the process locale, unlike strtod).
  double number() {
    const size_t start = pos_;
    const bool negative = pos_ < text_.size() && text_[pos_] == '-';
    if (negative) ++pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    const size_t int_start = pos_;
    const size_t int_digits = digits();
    if (int_digits == 0) {
      pos_ = start;
      error("expected a value");
    }
    if (int_digits > 1 && text_[int_start] == '0') {
      pos_ = int_start;
      error("leading zero in a number");
    }
    const size_t frac_start = pos_ + 1;
    size_t frac_digits = 0;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      frac_digits = digits();
      if (frac_digits == 0) error("expected digits after '.'");
    }
    bool exp_negative = false;
    size_t exp_start = 0, exp_digits = 0;
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) exp_negative = text_[pos_++] == '-';
      exp_start = pos_;
      exp_digits = digits();
      if (exp_digits == 0) error("expected an exponent");
    }
    double d = 0.0;
    const auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, d);
    if (ec == std::errc() && end == text_.data() + pos_ && std::isfinite(d)) return d;
    if (ec != std::errc::result_out_of_range) {
      pos_ = start;
      error("unreadable number");
    }
    // Out of range: too large (an error) or too small (zero, as Python reads it).
    // The value is 0.ddd x 10^e with e = (digits before the point, from the
    // first non-zero one) + exponent; below 1 (e <= 0) it cannot overflow.
    long long e = 0;
    const std::string_view all_int = text_.substr(int_start, int_digits);
    const std::string_view all_frac = frac_digits ? text_.substr(frac_start, frac_digits) : std::string_view();
    const size_t first_int = all_int.find_first_not_of('0');
    if (first_int != std::string_view::npos) {
      e = static_cast<long long>(int_digits - first_int);
    } else {
      const size_t first_frac = all_frac.find_first_not_of('0');
      e = first_frac == std::string_view::npos ? 0 : -static_cast<long long>(first_frac);
    }
    long long exponent = 0;
    for (size_t k = 0; k < exp_digits; ++k) {
      exponent = std::min<long long>(exponent * 10 + (text_[exp_start + k] - '0'), 1000000000LL);
    }
    e += exp_negative ? -exponent : exponent;
    if (e <= 0) return negative ? -0.0 : 0.0;
    pos_ = start;
    error("number out of range");
  }
};

}  // namespace

Value parse(std::string_view text, int max_depth) {
  const size_t bad = invalid_utf8(text);
  if (bad != std::string_view::npos) throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(bad));
  return Parser(text, max_depth).document();
}

}  // namespace acnet::json
