@failure-mode @scenario-ca-register-join-mfa
Feature: CA register join MFA
  A Conditional Access policy on the "Register or join devices" action demands MFA the user cannot provide (AADSTS50079).
  Guide section: MFA or sign-in loops

  Scenario: CA register join MFA: the symptom
    Given the scenario "ca-register-join-mfa"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS50079
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 50079 in the sign-in log
    And portal.office.com sign-in succeeds

  Scenario: CA register join MFA: the fix repairs it
    Given the scenario "ca-register-join-mfa"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
