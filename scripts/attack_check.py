"""Try the running server as the attack run did (issue 9's findings), print one line per check."""
import hashlib, hmac, json, sys, time, requests
B = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
API = B + "/api/v1"
H = lambda t: {"Authorization": f"Bearer {t}", "Content-Type": "application/json"}
REG, DIST, INST, PAR = "demo-regulator-wuxi", "demo-regulator-liangxi", "demo-institution-xixin", "demo-parent-zhang"
results = []
def check(name, ok, detail=""):
    results.append(ok); print(("PASS " if ok else "FAIL ") + name + (f"  [{detail}]" if detail else ""))

r = requests.post(API + "/teachers", headers=H(INST), json={"name": "王老师", "id_number": "11010519491231002X",
    "qualification_cert_no": None, "cert_level": None, "cert_subject": None, "is_inservice_school_teacher": False,
    "background_check_status": "clear", "background_checked_on": "2026-11-01", "employment": "full_time", "hired_on": "2026-09-01"})
check("GB 11643's own example ID number is accepted (teacher 201)", r.status_code in (201, 409), f"{r.status_code} {r.json().get('id_number_masked', r.text[:120])}")
r = requests.post(API + "/rosters/inservice-teachers", headers=H(REG), json={"id_numbers": ["11010519491231002X"]})
check("city regulator adds a real number to the in-service roster", r.status_code == 200, r.text[:80])
r = requests.post(API + "/rosters/blacklist", headers=H(DIST), json={"id_numbers": ["11010519491231002X"], "reason": "x"})
check("district regulator may not add to the city-wide rosters (403)", r.status_code == 403, r.status_code)
r = requests.post(API + "/compliance/runs", headers=H(DIST), json={"as_of": "2030-06-01T00:00:00+08:00"})
check("district regulator may not start a city-wide compliance run (403)", r.status_code == 403, r.status_code)
r = requests.put(API + "/calendar/days/2027-02-20", headers=H(DIST), json={"kind": "workday", "name": "调休"})
check("district regulator may not change the calendar over the API (403)", r.status_code == 403, r.status_code)
r = requests.get(API + "/calendar/days?from=2027-01-01&to=2027-01-03", headers=H(REG))
d = {x["date"]: x for x in r.json()}
check("2027-01-01 (元旦) is a holiday", d.get("2027-01-01", {}).get("kind") == "holiday", d.get("2027-01-01"))
# console as district regulator
s = requests.Session()
page = s.get(B + "/console/signin").text
import re
csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
csrf = csrf.group(1) if csrf else ""
r = s.post(B + "/console/signin", data={"token": DIST, "csrf_token": csrf}, allow_redirects=False)
cal = s.get(B + "/console/calendar").text
csrf2 = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', cal)
r = s.post(B + "/console/calendar/days", data={"csrf_token": csrf2.group(1) if csrf2 else "", "date": "2027-02-20", "kind": "workday", "name": "调休"}, allow_redirects=False)
check("district regulator may not change the calendar in the console", r.status_code in (403,), r.status_code)
# hostile input
body = b'{"event_id":"x"}'
for ts in ["\u00b2", "9" * 5000]:
    try:
        r = requests.post(API + "/trustee/events", data=body, headers={"Content-Type": "application/json", "X-Supervision-Timestamp": ts.encode(), "X-Supervision-Signature": "sha256=00"})
        check(f"trustee timestamp {ts[:3]!r}... → 401 with the error body", r.status_code == 401 and "code" in r.json(), r.status_code)
    except Exception as exc:
        check(f"trustee timestamp {ts[:3]!r}", False, repr(exc)[:100])
deep = "[" * 5000 + "]" * 5000
r = requests.post(API + "/enrollments", data=deep, headers=H(PAR))
check("JSON 5,000 deep on the API → 4xx with the error body", 400 <= r.status_code < 500 and "code" in r.json(), r.status_code)
r = s.post(B + "/console/calendar/days", data=deep, headers={"Content-Type": "application/json"})
check("JSON 5,000 deep on a console POST → 4xx", 400 <= r.status_code < 500, r.status_code)
r = requests.get(B + "/console/signin?next=/console/%0d%0aSet-Cookie:x", allow_redirects=False)
check("CRLF in next= → no 500, no header injection", r.status_code < 500 and "x" not in r.headers.get("Set-Cookie", "").split(";")[0][:2], r.status_code)
r = requests.post(API + "/enrollments", data='{"course_id": 1, "student_name": "\\ud800", "student_grade": 5, "class_hours": 2}', headers=H(PAR))
check("lone surrogate → 422 naming the field", r.status_code == 422 and "student_name" in json.dumps(r.json()), f"{r.status_code} {r.text[:100]}")
r = requests.post(API + "/enrollments", json={"course_id": 1, "student_name": "张\u202e明", "student_grade": 5, "class_hours": 2}, headers=H(PAR))
check("bidi override in a name → 422", r.status_code == 422, r.status_code)
# sign-in throttle
codes = []
g = requests.Session()
for i in range(15):
    page = g.get(B + "/console/signin").text
    m = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    codes.append(g.post(B + "/console/signin", data={"token": f"guess-{i}", "csrf_token": m.group(1) if m else ""}, allow_redirects=False).status_code)
check("console sign-in guesses are throttled by default", 429 in codes, codes)
ok = all(results)
print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if ok else 1)
