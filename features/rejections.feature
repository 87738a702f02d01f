Feature: Rejected registrations
  A refused registration is recorded, with the reason and what the phone
  said, at most once per device and reason per minute: a phone that
  continuously boots in an attempt to register cannot flood the history.

  Background:
    Given the sample cluster

  Scenario: A phone rebooting in a loop 20 times in a minute is recorded once, and again after a minute
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5 20 times, 3 seconds apart
    Then it is refused because the window is closed
    And the history records 1 "device.registration_rejected" event for SEP00112233AABB
    When 2 seconds pass
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And nothing new is recorded
    When 1 second passes
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And the history records 2 "device.registration_rejected" events for SEP00112233AABB
    And phone SEP00112233AABB is unknown

  Scenario: A recorded rejection says why and what the phone said
    Given autoregistration is open by "alice" because "bulk add"
    And "alice" sets the autoregistration protocol to SIP
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because it speaks the wrong protocol
    And the last rejection recorded for SEP00112233AABB is "wrong_protocol" saying "autoregisters over SIP only"
    And the last rejection recorded for SEP00112233AABB was of a 7961 over SCCP from 10.0.0.5 in window W1

  Scenario: A rejection while autoregistration is closed names the fix
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And the phone is told "Autoregistration closed"
    And the last rejection recorded for SEP00112233AABB is "window_closed" saying "registrar admin autoreg open"

  Scenario: Different reasons are recorded separately within the same minute
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    Given autoregistration is open by "alice" because "bulk add"
    When 10 seconds pass
    And phone SEP00112233AABB of model 7999 registers over SCCP from 10.0.0.5
    Then it is refused because its model is unknown
    When 10 seconds pass
    And phone SEP00112233AABB of model 7961 registers over SIP from 10.0.0.5
    Then it is refused because it speaks the wrong protocol
    When 10 seconds pass
    And phone SEP00112233AABB of model 7999 registers over SCCP from 10.0.0.5
    Then it is refused because its model is unknown
    And nothing new is recorded
    And the history records 3 "device.registration_rejected" events for SEP00112233AABB
    When 10 seconds pass
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000

  Scenario: Each device is limited on its own
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5 5 times, 1 seconds apart
    Then it is refused because the window is closed
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6 5 times, 1 seconds apart
    Then it is refused because the window is closed
    And the history records 1 "device.registration_rejected" event for SEP00112233AABB
    And the history records 1 "device.registration_rejected" event for SEP00112233AABC
    And the registrar knows 0 devices, 0 of them registered

  Scenario: A known phone using the wrong protocol over and over is recorded once a minute too
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    When phone SEP00112233AABB of model 7961 registers over SIP from 10.0.0.5 10 times, 5 seconds apart
    Then it is refused because it speaks the wrong protocol
    And the history records 1 "device.registration_rejected" event for SEP00112233AABB
    And phone SEP00112233AABB keeps directory number 1000

  Scenario: The once-a-minute limit holds across a restart of the registrar
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    When 30 seconds pass
    And the registrar restarts
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And nothing new is recorded
    When 30 seconds pass
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And the history records 2 "device.registration_rejected" events for SEP00112233AABB
